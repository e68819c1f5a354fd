"use strict";
// The report's only script: sorting, filtering and the threshold on the index; the verdict on a video page.
// The threshold travels from the index to the video pages in the link's fragment (#threshold=0.7).

function verdictOf(score, fallback, threshold) {
  if (fallback) return "undecided";
  return score >= threshold ? "fake" : "real";
}

function thresholdFromHash(fallbackValue) {
  const match = /threshold=([0-9.]+)/.exec(window.location.hash);
  const value = match ? parseFloat(match[1]) : NaN;
  return Number.isFinite(value) && value >= 0 && value <= 1 ? value : fallbackValue;
}

function setUpIndex(table) {
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const headers = Array.from(table.tHead.rows[0].cells);
  const filter = document.getElementById("filter");
  const thresholdInput = document.getElementById("threshold");
  const counts = document.getElementById("counts");
  thresholdInput.value = thresholdFromHash(parseFloat(thresholdInput.value));

  function applyThreshold() {
    const threshold = parseFloat(thresholdInput.value);
    if (!Number.isFinite(threshold)) return;
    for (const row of rows) {
      const verdict = verdictOf(parseFloat(row.dataset.score), row.dataset.fallback === "1", threshold);
      const cell = row.querySelector("td.verdict");
      cell.textContent = verdict;
      cell.dataset.value = verdict;
      cell.className = "verdict " + verdict;
      row.querySelector("a.video-link").hash = "threshold=" + threshold;
    }
    applyFilter();
  }

  function applyFilter() {
    const words = filter.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    let fakes = 0;
    for (const row of rows) {
      const text = row.textContent.toLowerCase();
      const visible = words.every((word) => text.includes(word));
      row.hidden = !visible;
      if (visible) {
        shown += 1;
        if (row.querySelector("td.verdict").dataset.value === "fake") fakes += 1;
      }
    }
    counts.textContent = `${shown} of ${rows.length} videos shown, ${fakes} of them called fake`;
  }

  function sortBy(index) {
    const header = headers[index];
    const ascending = header.getAttribute("aria-sort") !== "ascending";
    const numeric = header.dataset.type === "number";
    const key = (row) => {
      const value = row.cells[index].dataset.value;
      return numeric ? parseFloat(value) : value.toLowerCase();
    };
    rows.sort((a, b) => {
      const x = key(a);
      const y = key(b);
      const order = x < y ? -1 : x > y ? 1 : 0;
      return ascending ? order : -order;
    });
    for (const other of headers) other.removeAttribute("aria-sort");
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    for (const row of rows) body.appendChild(row);
  }

  headers.forEach((header, index) => header.querySelector("button").addEventListener("click", () => sortBy(index)));
  filter.addEventListener("input", applyFilter);
  thresholdInput.addEventListener("input", applyThreshold);
  applyThreshold();
}

function setUpVideoPage(verdict) {
  const score = document.getElementById("video-score");
  const threshold = thresholdFromHash(parseFloat(verdict.dataset.threshold));
  const value = verdictOf(parseFloat(score.dataset.score), score.dataset.fallback === "1", threshold);
  verdict.textContent = `${value} at threshold ${threshold}`;
  verdict.className = "verdict " + value;
  const back = document.getElementById("back");
  back.hash = "threshold=" + threshold;
}

const videoTable = document.getElementById("videos");
if (videoTable) setUpIndex(videoTable);
const videoVerdict = document.getElementById("verdict");
if (videoVerdict) setUpVideoPage(videoVerdict);
