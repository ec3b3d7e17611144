// The run report (`muchator report`, the main job's last step; docs/metrics.md): everything a run
// of the main job measured, gathered from its folder into one Markdown file and one
// self-contained HTML page (inline CSS and SVG charts, no script, no external asset: it opens
// offline). Parts the run lacks are left out with a line saying which command makes them.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace muchator {

// A line chart as inline SVG: each series is (name, points (x, y)); axes with the min/max values.
struct ChartSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;
};
std::string LineChartSvg(const std::string& title, const std::string& x_label,
                         const std::string& y_label, const std::vector<ChartSeries>& series,
                         bool log_y = false);

// Text made safe inside HTML elements and attribute values.
std::string HtmlEscape(const std::string& text);

struct RunReportFiles {
  std::string markdown, html;
  int sections = 0;  // sections with content
};
// Checks a file of the paper's own figures (docs/metrics.md, "The paper's figures"): a JSON object
// with "source" and tables "evaluation", "table3", "table4", "table7" (rows {"system", "mode"?,
// personalization, relevance, diversity, factuality}), "table5" ({"checkpoint", artist, genre,
// q2i, general, u2i_perplexity}), "table6" ({"variant", u2i_perplexity}); any metric may be left
// out. Throws Error naming the file and the row at the first problem.
void CheckPaperFigures(const std::string& path);

// Reads run_dir (report/report.json, benchmarks/knowledge.json, ablate/table6.json, the
// pre-training and GRPO logs, the reward models' and synthesis summaries, every *.config.toml, and
// paper.json when present: the paper's figures quoted beside ours) and writes out_dir/run_report.md
// and out_dir/index.html. Throws Error when run_dir holds none of them.
RunReportFiles WriteRunReport(const std::string& run_dir, const std::string& out_dir);

}  // namespace muchator
