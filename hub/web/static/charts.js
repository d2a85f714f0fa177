// The participation pages' script: draws their charts with Chart.js (vendored:
// chart.umd.min.js) and helps the period form.
// Each <canvas data-chart="{...}"> carries its data as JSON written by the server; the same
// figures are in the table printed under it, so the page reads fine without this script.
(function () {
  "use strict";
  var LEVEL_COLOURS = {
    active: "#1d7a46",
    passive: "#a5660a",
    unreachable: "#b3261e",
    insufficient: "#9aa5ab"
  };
  var SERIES_COLOURS = ["#0f6b5c", "#5d6b73", "#a5660a", "#b3261e"];

  function percentAxis(max) {
    return { beginAtZero: true, max: max, ticks: { callback: function (v) { return v + "%"; } } };
  }

  function config(spec) {
    var stacked = spec.type === "stacked";
    var horizontal = spec.type === "bars" || stacked;
    var datasets = spec.series.map(function (s, i) {
      var colour = LEVEL_COLOURS[s.key] || SERIES_COLOURS[i % SERIES_COLOURS.length];
      return {
        label: s.label,
        data: s.data,
        borderColor: colour,
        backgroundColor: colour,
        spanGaps: false,
        tension: 0.2
      };
    });
    var value = spec.max ? percentAxis(spec.max) : { beginAtZero: true, ticks: { precision: 0 } };
    var category = { ticks: { autoSkip: true } };
    var scales = horizontal
      ? { x: Object.assign({ stacked: stacked }, value), y: Object.assign({ stacked: stacked }, category) }
      : { x: category, y: value };
    return {
      type: spec.type === "line" ? "line" : "bar",
      data: { labels: spec.labels, datasets: datasets },
      options: {
        indexAxis: horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: scales,
        plugins: { legend: { position: "bottom" } }
      }
    };
  }

  function draw() {
    if (typeof Chart === "undefined") return;
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var spec;
      try {
        spec = JSON.parse(canvas.getAttribute("data-chart"));
      } catch (e) {
        return;
      }
      var rows = spec.labels.length;
      if (spec.type !== "line") {
        canvas.parentElement.classList.add(rows > 12 ? "chart-tall" : "chart-bars");
      }
      canvas.chart = new Chart(canvas, config(spec));
      canvas.setAttribute("data-drawn", "1");
    });
  }

  // Typing a date in the period form means "Tanggal sendiri": choose it for the user.
  function customDates() {
    document.querySelectorAll("form.period-form input[type=date]").forEach(function (input) {
      input.addEventListener("change", function () {
        var choice = input.form.querySelector("select[name=periode]");
        if (choice) choice.value = "tanggal";
      });
    });
  }

  function start() {
    draw();
    customDates();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
