import subprocess
import sys

import pytest

# Feature maps of 32 MiB, like an EfficientNet's early layers at 380 px: above glibc's automatic mmap
# threshold.
CONVOLUTIONS = """
import resource, sys
import torch
from core.allocator import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
torch.set_num_threads(1)
layers = [torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.SiLU(), torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.SiLU(), torch.nn.Conv2d(32, 8, 1)]
net, x = torch.nn.Sequential(*layers).eval(), torch.randn(1, 3, 512, 512)
with torch.inference_mode():
    net(x)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        net(x)
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(mode: str) -> tuple[str, int]:
    output = subprocess.run(
        [sys.executable, "-c", CONVOLUTIONS, mode], capture_output=True, text=True, check=True
    ).stdout
    kept, faults = output.split()
    return kept, int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator is what this changes")
@pytest.mark.slow
def test_kept_memory_is_reused_instead_of_faulted_in_again():
    default_kept, default_faults = _page_faults("default")
    kept, faults = _page_faults("keep")
    assert default_kept == "None" and kept == "True"
    # every forward pass faults its feature maps in afresh (4 KiB pages)
    assert default_faults > 5 * 32 * 2**20 // 4096
    # kept: 8,192 faults against 288,803 on the development VM in six reruns, but 32,768 once in a CI run there
    # (cause not found), so the bar is a fifth, not a tenth
    assert faults < default_faults / 5


RELEASE = """
import torch
from core.allocator import keep_freed_memory, release_freed_memory
def resident_mib():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 // 2**20
keep_freed_memory()
blocks = [torch.ones(16 * 2**20, dtype=torch.uint8) for _ in range(16)]  # 256 MiB, like a checkpoint being loaded
loaded = resident_mib()
del blocks
kept = resident_mib()
print(release_freed_memory(), loaded, kept, resident_mib())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator is what this changes")
def test_freed_memory_is_kept_until_released():
    output = subprocess.run(
        [sys.executable, "-c", RELEASE], capture_output=True, text=True, check=True
    ).stdout
    released, loaded, kept, after = output.split()
    assert released == "True"
    assert int(kept) > int(loaded) - 16  # freeing alone hands nothing back
    assert int(after) < int(kept) - 200  # releasing hands back (nearly) all of the 256 MiB


ACROSS_THREADS = """
import sys, threading
import torch
from core.allocator import keep_freed_memory
def resident_mib():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 // 2**20
if sys.argv[1] == "keep":
    keep_freed_memory()
def read_ahead():  # like the folder runner's thread decoding the next video: 256 MiB of frames, then freed
    frames = [torch.ones(8 * 2**20, dtype=torch.uint8) for _ in range(32)]
    del frames
worker = threading.Thread(target=read_ahead)
worker.start()
worker.join()
before = resident_mib()
frames = [torch.ones(8 * 2**20, dtype=torch.uint8) for _ in range(32)]
print(resident_mib() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator is what this changes")
def test_memory_freed_by_one_thread_is_reused_by_another():
    grown = int(
        subprocess.run(
            [sys.executable, "-c", ACROSS_THREADS, "keep"], capture_output=True, text=True, check=True
        ).stdout
    )
    assert grown < 32  # the main thread's 256 MiB come out of what the worker freed
