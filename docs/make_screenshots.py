"""The README's screenshots of a report, taken in headless Chromium as the tests take theirs.

    python -m docs.make_screenshots REPORT_DIR VIDEO_NAME

REPORT_DIR is a report made by predict_folder.py --report (the README shows the demo's: demo_output/report);
writes docs/report_index.png and docs/report_video.png.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from core.cli import ArgumentParser
from inference.report import video_folder_name
from tests.browser import Browser

DOCS = Path(__file__).resolve().parent


def save(png: bytes, path: Path, max_height: int) -> None:
    """The top `max_height` pixels of the page, as a compressed PNG."""
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[:max_height]
    cv2.imwrite(str(path), image, [cv2.IMWRITE_PNG_COMPRESSION, 9])


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__)
    parser.add_argument("report", help="the report folder (holding index.html)")
    parser.add_argument("video", help="file name of the video whose page is shown")
    args = parser.parse_args(argv)
    report = Path(args.report)
    browser = Browser(width=1000, height=800)
    try:
        save(browser.open(report / "index.html").screenshot(), DOCS / "report_index.png", 1100)
        save(
            browser.open(report / "videos" / video_folder_name(args.video) / "index.html").screenshot(),
            DOCS / "report_video.png",
            1900,
        )
    finally:
        browser.close()
    print(f"wrote {DOCS / 'report_index.png'} and {DOCS / 'report_video.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
