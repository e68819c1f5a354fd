# GPU image for inference, preprocessing and training. Build: docker build -t df .
# Run:   docker run --gpus all --ipc=host --rm -v <DATA_ROOT>:/dataset -it df
ARG BASE_IMAGE=pytorch/pytorch:2.9.1-cuda12.8-cudnn9-runtime
FROM ${BASE_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /workspace/dfdc
COPY requirements.txt .
# The pinned torch/torchvision replace the base image's, so the image runs exactly what the tests ran.
RUN python -m pip install -r requirements.txt

COPY . .
RUN chmod +x *.sh
# Scripts use this environment directly; setup_env.sh sees the marker and does not create a .venv.
ENV DFDC_NO_VENV=1
CMD ["bash"]
