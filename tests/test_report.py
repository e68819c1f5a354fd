"""The HTML report (--report, python -m inference.report) and the heat maps (--explain), on real videos with a
trained checkpoint; the pages are opened in headless Chromium and looked at as a person would."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from core.video import read_sampled_frames, write_video
from inference.report import faces_folder, video_folder_name
from tests.browser import Browser
from tests.commands import predict_argv, run_main, run_predict
from tests.conftest import shared_video

ODD_NAME = "odd <b>name & 'quotes'.mp4"  # escaped on the pages, a safe folder name on disk
INPUTS = ["no_face.mp4", ODD_NAME, "photo.jpg", "portrait.mp4", "two_people.mp4"]


@pytest.fixture(scope="module")
def report_run(tmp_path_factory, trained_checkpoint, faceless_video):
    folder = tmp_path_factory.mktemp("report_inputs")
    left = read_sampled_frames(shared_video("ffpp/original_sequences/youtube/c23/videos/519.mp4"), 12).frames
    right = read_sampled_frames(shared_video("ffpp/original_sequences/youtube/c23/videos/634.mp4"), 12).frames
    width = round(right[0].shape[1] * left[0].shape[0] / right[0].shape[0])
    write_video(
        folder / "two_people.mp4",
        [
            np.hstack([a, cv2.resize(b, (width, a.shape[0]), interpolation=cv2.INTER_AREA)])
            for a, b in zip(left, right, strict=True)
        ],
    )
    shutil.copy(shared_video("dfdc/dfdc_train_part_0/brtujopkby.mp4"), folder / "portrait.mp4")
    shutil.copy(shared_video("ffpp/original_sequences/youtube/c23/videos/004.mp4"), folder / ODD_NAME)
    assert cv2.imwrite(str(folder / "photo.jpg"), cv2.cvtColor(right[0], cv2.COLOR_RGB2BGR))
    shutil.copy(faceless_video, folder / "no_face.mp4")
    out = tmp_path_factory.mktemp("report_run")
    done = run_predict(
        *predict_argv(trained_checkpoint, folder, out / "scores.csv"),
        "--frames",
        8,
        "--explain",
        "--report",
        out / "report",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    diagnostics = json.loads((out / "scores.diagnostics.json").read_text())
    return out / "report", diagnostics, folder, done


def test_explain_keeps_a_heat_map_per_face_and_model(report_run, trained_checkpoint):
    _, diagnostics, _, _ = report_run
    videos = diagnostics["videos"]
    assert sorted(videos) == INPUTS
    assert videos["no_face.mp4"]["heatmaps"] == {}
    for name in INPUTS[1:]:
        record = videos[name]
        entry = record["heatmaps"][trained_checkpoint.name]
        # the 64-px ResNet-18's last feature map is 2x2: the map comes from layer2, 8x8
        assert entry["layer"] == "encoder.layer2" and entry["shape"] == [8, 8]
        assert len(entry["faces"]) == record["faces_found"] > 0 and "explain" in record["seconds"]
        scores = np.array(record["scores"][trained_checkpoint.name])
        for track in record["tracks"]:
            members = [i for i, face in enumerate(record["faces"]) if face["track"] == track["track"]]
            assert track["most_fake_face"] == members[int(np.argmax(scores[members]))]
            assert track["least_fake_face"] == members[int(np.argmin(scores[members]))]


def test_report_has_a_page_per_video_with_its_faces_and_heat_maps(report_run):
    report, diagnostics, _, done = report_run
    assert f"wrote the report {report / 'index.html'}" in done.stdout
    for name, record in diagnostics["videos"].items():
        folder = report / "videos" / video_folder_name(name)
        assert (folder / "index.html").is_file()
        assert len(list(faces_folder(report, name).glob("*.jpg"))) == record["faces_found"]
        kept = {track[key] for track in record["tracks"] for key in ("most_fake_face", "least_fake_face")}
        assert len(list((folder / "heat").glob("*.png"))) == len(kept)  # one model
        assert (folder / "timeline.png").is_file() == (record["faces_found"] > 0)
    assert video_folder_name(ODD_NAME).startswith("odd_b_name_quotes_.mp4-")
    page = (report / "videos" / video_folder_name(ODD_NAME) / "index.html").read_text()
    assert "odd &lt;b&gt;name &amp; &#39;quotes&#39;.mp4" in page and "<b>name" not in page
    assert "no face found in 8 sampled frames" in (report / "index.html").read_text()


def not_blank(png: bytes) -> bool:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    return (
        image is not None
        and image.shape[0] > 300
        and float(image.std()) > 20
        and len(np.unique(image.reshape(-1, 3), axis=0)) > 200
    )


@pytest.fixture(scope="module")
def chromium():
    browser = Browser()
    yield browser
    browser.close()


@pytest.fixture
def browser(chromium):
    """The module's Chromium, with the tabs a test opened closed when it ends."""
    yield chromium
    chromium.close_pages()


def assert_stays_inside(page, report):
    assert page.console_errors == []
    assert page.failed_requests == []
    outside = [
        url
        for url in page.requests
        if not url.startswith(report.resolve().as_uri() + "/") and not url.startswith("data:")
    ]
    assert outside == []


def type_into(page, element: str, text: str) -> None:
    page.evaluate(
        f"{{ const input = document.getElementById({element!r}); input.value = {text!r}; "
        "input.dispatchEvent(new Event('input')); }"
    )


def test_index_page_in_chromium(report_run, browser, tmp_path):
    report, diagnostics, _, _ = report_run
    page = browser.open(report / "index.html")
    assert_stays_inside(page, report)
    rows = "Array.from(document.querySelectorAll('#videos tbody tr')).filter(r => !r.hidden)"
    # one row per input, by name
    assert page.evaluate(f"{rows}.map(r => r.cells[0].textContent.trim())") == INPUTS
    scores = {name: record["score"] for name, record in diagnostics["videos"].items()}
    page.evaluate("document.querySelector('th[data-column=score] button').click()")
    ascending = page.evaluate(f"{rows}.map(r => r.cells[0].textContent.trim())")
    assert [scores[name] for name in ascending] == sorted(scores.values())
    page.evaluate("document.querySelector('th[data-column=score] button').click()")
    descending = page.evaluate(f"{rows}.map(r => parseFloat(r.cells[1].textContent))")
    assert descending == sorted(descending, reverse=True) and len(descending) == len(INPUTS)
    assert (
        page.evaluate("document.querySelector('th[data-column=score]').getAttribute('aria-sort')")
        == "descending"
    )
    # the threshold moves the verdicts; a fallback stays undecided
    type_into(page, "threshold", "0")
    verdicts = dict(
        page.evaluate(f"{rows}.map(r => [r.cells[0].textContent.trim(), r.cells[2].textContent])")
    )
    assert verdicts == {name: "undecided" if name == "no_face.mp4" else "fake" for name in INPUTS}
    type_into(page, "filter", "PEOPLE")
    assert page.evaluate(f"{rows}.map(r => r.cells[0].textContent.trim())") == ["two_people.mp4"]
    assert (
        page.evaluate("document.getElementById('counts').textContent")
        == "1 of 5 videos shown, 1 of them called fake"
    )
    type_into(page, "filter", "")
    assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    screenshot = page.screenshot()
    (tmp_path / "index.png").write_bytes(screenshot)
    assert not_blank(screenshot)


def test_video_page_in_chromium(report_run, browser, tmp_path):
    report, diagnostics, _, _ = report_run
    record = diagnostics["videos"]["two_people.mp4"]
    page = browser.open(report / "videos" / video_folder_name("two_people.mp4") / "index.html")
    assert_stays_inside(page, report)
    assert page.evaluate("document.querySelector('h1').textContent") == "two_people.mp4"
    assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    assert page.evaluate("document.querySelectorAll('figure.face img').length") == record["faces_found"]
    people = record["tracks"]
    assert page.evaluate("document.querySelectorAll('section.track').length") == len(people) >= 2
    assert page.evaluate("document.querySelectorAll('table.heat-maps tbody tr').length") == sum(
        len({track["most_fake_face"], track["least_fake_face"]}) for track in people
    )
    expected = "fake" if record["score"] >= 0.5 else "real"
    assert page.evaluate("document.getElementById('verdict').textContent") == f"{expected} at threshold 0.5"
    assert f"{record['score']:.3f}" == page.evaluate("document.getElementById('video-score').textContent")
    text = page.evaluate("document.body.innerText")
    assert "What the score means" in text and "0.5 is the undecided fallback" in text and "detect" in text
    # times in the video: 12 frames at 25 fps
    assert "(0.5 s at 25 frames per second)" in text and "frame 0, 0:00.0" in text
    screenshot = page.screenshot()
    (tmp_path / "video.png").write_bytes(screenshot)
    assert not_blank(screenshot)
    # the threshold given by the index travels in the link
    assert record["score"] < 0.99
    later = browser.open(
        report / "videos" / video_folder_name("two_people.mp4") / "index.html", fragment="threshold=0.99"
    )
    assert later.evaluate("document.getElementById('verdict').textContent") == "real at threshold 0.99"


def test_report_made_later_from_the_diagnostics(report_run, tmp_path):
    report, diagnostics, folder, _ = report_run
    source = report.parent / "scores.diagnostics.json"
    later = tmp_path / "later"
    done = run_main("inference.report", source, "--out", later, "--threshold", "0.3")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f"wrote the report of 5 videos: {later / 'index.html'}")
    assert sorted(p.name for p in (later / "videos").iterdir()) == sorted(
        p.name for p in (report / "videos").iterdir()
    )
    for name, record in diagnostics["videos"].items():  # faces cut again from the videos
        assert len(list(faces_folder(later, name).glob("*.jpg"))) == record["faces_found"]
    assert 'value="0.3"' in (later / "index.html").read_text()

    # a rerun redraws nothing that did not change, but faces cut from another file of the same name are cut
    # again; a video that is gone gets its page without faces
    timeline = later / "videos" / video_folder_name("portrait.mp4") / "timeline.png"
    before = timeline.stat().st_mtime_ns
    two_people = faces_folder(later, "two_people.mp4")
    (two_people / "video_key.txt").write_text("another file|1|1\n")
    (two_people / "000.jpg").write_bytes(b"stale")
    moved = diagnostics["videos"]["photo.jpg"]
    shutil.rmtree(faces_folder(later, "photo.jpg"))
    (folder / "photo.jpg").rename(tmp_path / "photo.jpg")
    try:
        again = run_main("inference.report", source, "--out", later, "--threshold", "0.3")
    finally:
        (tmp_path / "photo.jpg").rename(folder / "photo.jpg")
    assert again.returncode == 0, again.stderr
    assert timeline.stat().st_mtime_ns == before
    assert (two_people / "video_key.txt").read_text().strip() == diagnostics["videos"]["two_people.mp4"][
        "video_key"
    ]
    assert cv2.imread(str(two_people / "000.jpg")).shape == (112, 112, 3)
    photo_page = (later / "videos" / video_folder_name("photo.jpg") / "index.html").read_text()
    # the page was kept, now says why
    assert moved["faces_found"] >= 1 and "face thumbnails unavailable" in photo_page


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "error: diagnostics file not found"),
        ("{not json", "is not JSON"),
        ('{"settings_key": "x"}', "is not a predict_folder.py diagnostics file"),
    ],
)
def test_report_refuses_bad_input_in_one_line(tmp_path, content, message):
    source = tmp_path / "d.json"
    if content is not None:
        source.write_text(content)
    done = run_main("inference.report", source, "--out", tmp_path / "r")
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r" / "index.html").exists()


def test_explain_kept_maps_only_the_faces_the_report_shows_and_a_full_rerun_fills_the_rest(
    report_run, trained_checkpoint, tmp_path
):
    _, _, folder, _ = report_run
    args = [
        "--weights-dir",
        trained_checkpoint.parent,
        "--models",
        trained_checkpoint.name,
        "--test-dir",
        folder / "two_people.mp4",
        folder / "no_face.mp4",
        "--output",
        tmp_path / "kept.csv",
        "--device",
        "cpu",
        "--frames",
        8,
    ]
    done = run_predict(*args, "--explain", "kept")
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "kept.diagnostics.json").read_text())["videos"]["two_people.mp4"]
    kept = {track[key] for track in record["tracks"] for key in ("most_fake_face", "least_fake_face")}
    maps = record["heatmaps"][trained_checkpoint.name]["faces"]
    assert {i for i, text in enumerate(maps) if text is not None} == kept and len(kept) < len(maps)
    # all that was asked is there
    assert "reusing 2 finished videos" in run_predict(*args, "--explain", "kept").stderr
    again = run_predict(*args, "--explain")  # every face: the video with faces is explained again
    assert again.returncode == 0 and "reusing 1 finished videos" in again.stderr
    record = json.loads((tmp_path / "kept.diagnostics.json").read_text())["videos"]["two_people.mp4"]
    assert all(text is not None for text in record["heatmaps"][trained_checkpoint.name]["faces"])


def test_a_report_that_cannot_be_written_keeps_the_scores_and_says_so(
    report_run, trained_checkpoint, tmp_path
):
    _, _, folder, _ = report_run
    (tmp_path / "blocked").write_text("a file where the report's folder should go")
    done = run_predict(
        *predict_argv(trained_checkpoint, folder / "photo.jpg", tmp_path / "scores.csv"),
        "--report",
        tmp_path / "blocked" / "report",
    )
    assert done.returncode == 1 and (tmp_path / "scores.csv").is_file()
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert (
        len(errors) == 1
        and "the report was not written" in errors[0]
        and "python -m inference.report" in errors[0]
    )
    assert "warning: photo.jpg: face thumbnails for the report not saved" in done.stdout + done.stderr
