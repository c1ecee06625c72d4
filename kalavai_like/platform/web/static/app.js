/* kalavai-like pages: the copy buttons and the contributions chart (uPlot, vendored).
   Everything else works without JavaScript. */
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-http origins have no async clipboard API: copy from a selected text area.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    var ok = document.execCommand("copy");
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  document.querySelectorAll("button.copy").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy-target"));
      copyText(source.textContent.trim()).then(
        function () { button.textContent = "Copied"; button.classList.add("done"); },
        function () {
          button.textContent = "Select and copy";
          var range = document.createRange();
          range.selectNodeContents(source);
          window.getSelection().removeAllRanges();
          window.getSelection().addRange(range);
        }
      );
    });
  });

  var holder = document.getElementById("daily-chart");
  var data = document.getElementById("daily-data");
  if (!holder || !data || !window.uPlot) { return; }

  var parsed = JSON.parse(data.textContent);
  var byDay = {};
  parsed.rows.forEach(function (r) { byDay[r.day] = r; });
  var keys = ["cpu_core_hours", "ram_gb_hours", "gpu_hours", "credit"];
  var columns = [[], [], [], [], []];
  parsed.days.forEach(function (day) {
    columns[0].push(Date.parse(day + "T00:00:00Z") / 1000);
    var row = byDay[day];
    keys.forEach(function (k, i) { columns[i + 1].push(row ? row[k] : 0); });
  });

  function size() {
    return { width: Math.max(280, holder.clientWidth), height: holder.clientWidth < 600 ? 220 : 300 };
  }
  var s = size();
  var opts = {
    width: s.width,
    height: s.height,
    legend: { live: false },
    tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); },
    scales: { x: { time: true }, h: { auto: true }, credit: { auto: true } },
    series: [
      { label: "Day", value: "{YYYY}-{MM}-{DD}" },
      { label: "CPU core-h", scale: "h", stroke: "#2563eb", width: 2, points: { size: 5 } },
      { label: "RAM GiB-h", scale: "h", stroke: "#16a34a", width: 2, points: { size: 5 } },
      { label: "GPU-h", scale: "h", stroke: "#9333ea", width: 2, points: { size: 5 } },
      { label: "Credit", scale: "credit", stroke: "#ea580c", width: 2, fill: "rgba(234,88,12,0.10)", points: { size: 5 } }
    ],
    axes: [
      { stroke: "#475569", grid: { stroke: "#e2e8f0" } },
      { scale: "h", label: "hours", stroke: "#475569", grid: { stroke: "#e2e8f0" } },
      { scale: "credit", side: 1, label: "credit", stroke: "#c2410c", grid: { show: false } }
    ]
  };
  var chart = new uPlot(opts, columns, holder);
  holder.setAttribute("data-rendered", "true");
  window.klChart = chart;  // the page tests read the plotted numbers from here
  window.addEventListener("resize", function () { chart.setSize(size()); });
})();
