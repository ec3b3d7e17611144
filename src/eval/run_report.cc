#include "eval/run_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"

namespace muchator {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string Num(double v, int digits = 3) {
  if (!std::isfinite(v)) return "-";
  char b[64];
  if (std::fabs(v) >= 10000)
    std::snprintf(b, sizeof b, "%.0f", v);
  else
    std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

std::string Cell(const json& row, const char* key, int digits = 3) {
  return row.contains(key) && row[key].is_number() ? Num(row[key].get<double>(), digits) : "-";
}

json ReadJson(const std::string& path) {
  try {
    return json::parse(ReadFile(path));
  } catch (const json::exception& e) {
    throw Error(std::string("not JSON: ") + e.what(), path, "run the step that writes it again");
  }
}

std::vector<json> ReadJsonLines(const std::string& path) {
  std::vector<json> rows;
  std::ifstream in(path);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    try {
      rows.push_back(json::parse(line));
    } catch (const json::exception& e) {
      throw Error(std::string("not JSON: ") + e.what(), path + ":" + std::to_string(n),
                  "run the step that writes it again");
    }
  }
  return rows;
}

bool IsNumber(const std::string& s) {
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return s == "-" || (!s.empty() && end && *end == '\0');
}

// One table written twice: as Markdown and as HTML.
struct Table {
  std::vector<std::string> head;
  std::vector<std::vector<std::string>> rows;
  std::string Markdown() const {
    std::string s = "|";
    for (const auto& h : head) s += " " + h + " |";
    s += "\n|";
    for (size_t i = 0; i < head.size(); ++i) s += i ? "---:|" : "---|";
    s += "\n";
    for (const auto& r : rows) {
      s += "|";
      for (const auto& c : r) s += " " + c + " |";
      s += "\n";
    }
    return s;
  }
  std::string Html() const {
    std::string s = "<table><thead><tr>";
    for (const auto& h : head) s += "<th>" + HtmlEscape(h) + "</th>";
    s += "</tr></thead><tbody>\n";
    for (const auto& r : rows) {
      s += "<tr>";
      for (const auto& c : r)  // numbers right-aligned
        s += (IsNumber(c) ? "<td class=n>" : "<td>") + HtmlEscape(c) + "</td>";
      s += "</tr>\n";
    }
    return s + "</tbody></table>\n";
  }
};

// The report's sections, each written to both outputs.
class Writer {
 public:
  void Section(const std::string& title) {
    md_ += "\n## " + title + "\n\n";
    html_ += "<h2>" + HtmlEscape(title) + "</h2>\n";
    ++sections_;
  }
  void Para(const std::string& text) {
    md_ += text + "\n\n";
    html_ += "<p>" + HtmlEscape(text) + "</p>\n";
  }
  void Add(const Table& t) {
    md_ += t.Markdown() + "\n";
    html_ += t.Html();
  }
  void Chart(const std::string& svg) { html_ += "<figure>" + svg + "</figure>\n"; }
  void Config(const std::string& name, const std::string& text) {
    md_ += "`" + name + "`:\n\n```toml\n" + text + "```\n\n";
    html_ += "<details><summary>" + HtmlEscape(name) + "</summary><pre>" + HtmlEscape(text) +
             "</pre></details>\n";
  }
  std::string md_, html_;
  int sections_ = 0;
};

// The paper's own figures (RUN/paper.json, given with `muchator report --paper FILE`), quoted
// beside ours in the tables whose metric is the same kind. Validated when given, so a typo is an
// error then rather than a silently empty row later.
struct PaperTable {
  const char* key;                   // key in paper.json
  const char* label;                 // the row's name key
  std::vector<const char*> metrics;  // the numbers a row may give
};
const std::vector<PaperTable>& PaperTables() {
  static const std::vector<PaperTable> kTables = {
      {"evaluation", "system", {"personalization", "relevance", "diversity", "factuality"}},
      {"table3", "system", {"personalization", "relevance", "diversity", "factuality"}},
      {"table4", "system", {"personalization", "relevance", "diversity", "factuality"}},
      {"table7", "system", {"personalization", "relevance", "diversity", "factuality"}},
      {"table5",
       "checkpoint",
       {"artist", "genre", "q2i", "general", "paraphrase", "u2i_perplexity"}},
      {"table6", "variant", {"u2i_perplexity"}}};
  return kTables;
}

json LoadPaper(const std::string& path) {
  const json p = ReadJson(path);
  auto fail = [&](const std::string& what, const std::string& hint) {
    throw Error(what, path, hint);
  };
  if (!p.is_object()) fail("not a JSON object", "see docs/metrics.md, \"The paper's figures\"");
  if (!p.contains("source") || !p["source"].is_string() || p["source"].get<std::string>().empty())
    fail("\"source\" (where the figures come from) is missing",
         "add e.g. \"source\": \"MuChator (CIKM'26), Table 3\"");
  for (const auto& [key, rows] : p.items()) {
    if (key == "source") continue;
    const auto t = std::find_if(PaperTables().begin(), PaperTables().end(),
                                [&](const PaperTable& x) { return key == x.key; });
    if (t == PaperTables().end())
      fail("unknown table \"" + key + "\"",
           "use evaluation, table3, table4, table5, table6 or table7");
    if (!rows.is_array()) fail("\"" + key + "\" is not a list of rows", "write [{...}, ...]");
    for (size_t i = 0; i < rows.size(); ++i) {
      const std::string where = key + "[" + std::to_string(i) + "]";
      const json& row = rows[i];
      if (!row.is_object() || !row.contains(t->label) || !row[t->label].is_string())
        fail(where + " has no \"" + t->label + "\" name", "name the row");
      for (const auto& [k, v] : row.items()) {
        if (k == t->label || (k == "mode" && v.is_string())) continue;
        if (std::find_if(t->metrics.begin(), t->metrics.end(),
                         [&](const char* m) { return k == m; }) == t->metrics.end()) {
          std::string allowed;
          for (const char* m : t->metrics) allowed += std::string(allowed.empty() ? "" : ", ") + m;
          fail(where + ": \"" + k + "\" is not a metric of this table",
               "the metrics of the same kind here are " + allowed);
        }
        if (!v.is_number())
          fail(where + "." + k + " is not a number", "give the value as a number");
      }
    }
  }
  return p;
}

// The paper's rows of table `key` ("paper: <name>"); empty when the run has no paper.json.
const json& PaperRows(const json& paper, const char* key) {
  static const json kNone = json::array();
  return paper.is_object() && paper.contains(key) ? paper[key] : kNone;
}

// An evaluation report's rows (report.json of `evaluate`, or an ablation table's "report") as a
// table and oracle relevance@10 bars.
void EvaluationTable(const json& r, const std::string& title, const std::string& intro, Writer& w,
                     const json& paper = json(), const char* paper_key = "") {
  w.Section(title);
  w.Para(intro + " " + std::to_string(r.value("requests", 0)) + " requests of the '" +
         r.value("split", "") +
         "' split; learned metrics (judge, ranking model) beside the oracle's truth "
         "(docs/metrics.md defines every column).");
  const json& quoted = PaperRows(paper, paper_key);
  Table t{{"system", "decoding", "Personalization", "Relevance (judge)", "Diversity", "Factuality",
           "Well-formed", "Oracle rel@10", "Oracle utility", "nDCG@10", "Recall@10"},
          {}};
  ChartSeries bars;
  for (const auto& row : r["rows"]) {
    t.rows.push_back({row.value("system", ""), row.value("mode", ""), Cell(row, "personalization"),
                      Cell(row, "relevance"), Cell(row, "diversity"), Cell(row, "factuality"),
                      Cell(row, "well_formed"), Cell(row, "relevance_at_10"), Cell(row, "utility"),
                      Cell(row, "ndcg_at_10"), Cell(row, "recall_at_10")});
  }
  for (const auto& row : quoted)  // the paper has no oracle: its rows stop at Factuality
    t.rows.push_back({"paper: " + row.value("system", ""), row.value("mode", "-"),
                      Cell(row, "personalization"), Cell(row, "relevance"), Cell(row, "diversity"),
                      Cell(row, "factuality"), "-", "-", "-", "-", "-"});
  w.Add(t);
  if (!quoted.empty())
    w.Para("Rows \"paper: ...\" are quoted from " + paper.value("source", "") +
           ": the same kind of metric measured on the paper's industrial data with its 8B models, "
           "so compare directions (which system is ahead of which), not values.");
  // Oracle relevance@10 of each row as bars (a line chart over the row index would mislead).
  std::string svg = "<svg xmlns='http://www.w3.org/2000/svg' width='640' height='" +
                    std::to_string(40 + 22 * r["rows"].size()) +
                    "' role='img'><title>oracle relevance@10 per system</title><text x='4' y='16' "
                    "class='t'>Oracle relevance@10 per system</text>";
  double top = 1e-9;
  for (const auto& row : r["rows"]) top = std::max(top, row.value("relevance_at_10", 0.0));
  int y = 30;
  for (const auto& row : r["rows"]) {
    const double v = row.value("relevance_at_10", 0.0);
    svg += "<text x='4' y='" + std::to_string(y + 13) + "'>" +
           HtmlEscape(row.value("system", "") + " " + row.value("mode", "")) +
           "</text><rect x='230' y='" + std::to_string(y) + "' width='" + Num(330 * v / top, 1) +
           "' height='16' class='b'/><text x='" + Num(236 + 330 * v / top, 1) + "' y='" +
           std::to_string(y + 13) + "'>" + Num(v) + "</text>";
    y += 22;
  }
  w.Chart(svg + "</svg>");
}

void Evaluation(const std::string& run, const json& paper, Writer& w) {
  const std::string path = run + "/report/report.json";
  if (!FileExists(path)) return;
  EvaluationTable(ReadJson(path), "Held-out requests: baselines and checkpoints", "", w, paper,
                  "evaluation");
  if (paper.is_null())
    w.Para(
        "The paper's own figures are not quoted: its tables are not shipped with MuChator-cpp. "
        "`muchator report --run " +
        run + " --paper FILE` quotes them beside ours (docs/metrics.md, \"The paper's figures\").");
}

void Knowledge(const std::string& run, const json& paper, Writer& w) {
  const std::string path = run + "/benchmarks/knowledge.json";
  if (!FileExists(path)) {
    w.Section("Knowledge benchmarks (Table 5)");
    w.Para("Not measured in this run: `muchator benchmark --run " + run + "` writes them.");
    return;
  }
  const json k = ReadJson(path);
  w.Section("Knowledge benchmarks (Table 5)");
  w.Para("Multiple-choice accuracy by option log-likelihood (chance 0.25; " +
         std::to_string(k.value("per_kind", 0)) +
         " questions per kind at most), and U2I perplexity of held-out next items per item token "
         "(lower is better).");
  Table t{{"checkpoint", "artist", "genre", "q2i", "general", "paraphrase", "U2I perplexity"}, {}};
  for (const auto& row : k["rows"]) {
    std::vector<std::string> cells = {row.value("checkpoint", "")};
    for (const char* kind : {"artist", "genre", "q2i", "general", "paraphrase"})
      cells.push_back(row["accuracy"].contains(kind) ? Cell(row["accuracy"][kind], "acc") : "-");
    cells.push_back(row.contains("u2i") ? Cell(row["u2i"], "perplexity", 2) : "-");
    t.rows.push_back(cells);
  }
  for (const auto& row : PaperRows(paper, "table5"))
    t.rows.push_back({"paper: " + row.value("checkpoint", ""), Cell(row, "artist"),
                      Cell(row, "genre"), Cell(row, "q2i"), Cell(row, "general"),
                      Cell(row, "paraphrase"), Cell(row, "u2i_perplexity", 2)});
  w.Add(t);
}

void Ablations(const std::string& run, const json& paper, Writer& w) {
  const std::pair<const char*, const char*> kTables[] = {
      {"3", "Ablation: every system (Table 3)"},
      {"4", "Ablation: the training recipe (Table 4)"},
      {"7", "Ablation: parts of the hybrid reward (Table 7)"},
      {"codecs", "Ablation: item codecs side by side"}};
  for (const auto& [n, title] : kTables) {
    const std::string p = run + "/ablate/" + (n[0] == 'c' ? "" : "table") + n + ".json";
    if (!FileExists(p)) {
      w.Section(title);
      w.Para(std::string("Not measured in this run: `muchator ablate --run ") + run + " --table " +
             n + "` writes it.");
      continue;
    }
    const json a = ReadJson(p);
    std::string intro;
    for (const auto& s : a.value("systems", json::array()))
      intro += s.value("system", "") + ": " + s.value("what", "") + ". ";
    const std::string paper_key = std::string("table") + n;
    EvaluationTable(a["report"], title, intro, w, paper, paper_key.c_str());
    if (a.contains("codecs")) {  // what each codec costs
      Table t{{"codec", "vocabulary", "stage-3 train loss"}, {}};
      for (const auto& c : a["codecs"])
        t.rows.push_back({c.value("codec", ""), Cell(c, "vocab_size", 0),
                          c.contains("stage3_train_loss") ? Cell(c, "stage3_train_loss") : "-"});
      w.Add(t);
    }
    if (a.contains("variants")) {  // Table 7: what each variant optimised
      Table t{{"variant", "rewards", "GRPO steps", "reward, first step", "reward, last step"}, {}};
      for (const auto& v : a["variants"]) {
        const bool trained = v.contains("training");
        t.rows.push_back({v.value("variant", ""), v.value("rewards", ""), Cell(v, "steps", 0),
                          trained ? Cell(v["training"]["first"], "reward_mean") : "-",
                          trained ? Cell(v["training"]["last"], "reward_mean") : "-"});
      }
      w.Add(t);
    }
  }
  const std::string path = run + "/ablate/table6.json";
  w.Section("Ablation: user context -> U2I perplexity (Table 6)");
  if (!FileExists(path)) {
    w.Para("Not measured in this run: `muchator ablate --run " + run + " --table 6` writes it.");
    return;
  }
  const json a = ReadJson(path);
  w.Para("Stage 3 rebuilt with growing user context, " + std::to_string(a.value("steps", 0)) +
         " steps each from the run's stage-2 checkpoint; U2I perplexity per item token.");
  Table t{{"user context", "U2I perplexity", "item tokens", "stage-3 train loss"}, {}};
  for (const auto& row : a["rows"])
    t.rows.push_back({row.value("variant", ""), Cell(row["u2i"], "perplexity"),
                      Cell(row["u2i"], "item_tokens", 0), Cell(row, "train_loss")});
  for (const auto& row : PaperRows(paper, "table6"))
    t.rows.push_back({"paper: " + row.value("variant", ""), Cell(row, "u2i_perplexity"), "-", "-"});
  w.Add(t);
}

void Curves(const std::string& run, Writer& w) {
  std::vector<std::string> stages;
  if (fs::is_directory(run + "/pretrain"))
    for (const auto& e : fs::directory_iterator(run + "/pretrain"))
      if (FileExists(e.path().string() + "/log.jsonl")) stages.push_back(e.path().filename());
  std::sort(stages.begin(), stages.end());
  const std::string grpo = run + "/grpo/grpo/log.jsonl";
  if (stages.empty() && !FileExists(grpo)) return;
  w.Section("Training curves");
  if (!stages.empty()) {
    std::vector<ChartSeries> loss;
    double offset = 0;  // stages one after another on one step axis
    for (const auto& s : stages) {
      ChartSeries c{s, {}};
      double last = 0;
      for (const auto& row : ReadJsonLines(run + "/pretrain/" + s + "/log.jsonl"))
        if (row.contains("loss") && row.contains("step")) {
          last = row["step"].get<double>();
          c.points.emplace_back(offset + last, row["loss"].get<double>());
        }
      offset += last;
      loss.push_back(std::move(c));
    }
    w.Chart(LineChartSvg("Pre-training loss per stage (curriculum order)", "step", "loss", loss));
    Table t{{"stage", "steps", "final train loss", "held-out loss (own stage)"}, {}};
    for (const auto& s : stages) {
      const auto rows = ReadJsonLines(run + "/pretrain/" + s + "/log.jsonl");
      if (rows.empty()) continue;
      const json& last = rows.back();
      std::string held = "-";
      for (auto it = rows.rbegin(); it != rows.rend(); ++it)
        if (it->contains("heldout") && (*it)["heldout"].contains(s)) {
          held = Num((*it)["heldout"][s].get<double>());
          break;
        }
      t.rows.push_back({s, Cell(last, "step", 0), Cell(last, "loss"), held});
    }
    w.Add(t);
  }
  if (FileExists(grpo)) {
    ChartSeries reward{"reward (mean of the group answers)", {}}, rel{"oracle relevance@10", {}};
    for (const auto& row : ReadJsonLines(grpo)) {
      const double step = row.value("step", 0.0);
      reward.points.emplace_back(step, row.value("reward_mean", 0.0));
      if (row.contains("oracle_relevance_at_10"))
        rel.points.emplace_back(step, row["oracle_relevance_at_10"].get<double>());
    }
    w.Chart(
        LineChartSvg("GRPO: the hybrid reward it optimises, per step", "step", "reward", {reward}));
    if (!rel.points.empty())
      w.Chart(LineChartSvg("GRPO: the oracle's relevance@10 of the rollouts, per step", "step",
                           "relevance@10", {rel}));
  }
}

void Components(const std::string& run, Writer& w) {
  Table t{{"component", "figure", "value"}, {}};
  if (FileExists(run + "/ranker/ranker_report.json")) {
    const json r = ReadJson(run + "/ranker/ranker_report.json");
    t.rows.push_back({"ranking model", "held-out like-vs-skip AUC", Cell(r, "like_vs_skip_auc")});
    t.rows.push_back({"ranking model", "oracle's like-vs-skip AUC (ceiling)",
                      Cell(r, "oracle_like_vs_skip_auc")});
  }
  if (FileExists(run + "/judge/judge.json")) {
    const json j = ReadJson(run + "/judge/judge.json");
    if (j.contains("report") && j["report"].contains("heldout")) {
      t.rows.push_back(
          {"relevance judge", "held-out accuracy", Cell(j["report"]["heldout"], "accuracy")});
      t.rows.push_back({"relevance judge", "held-out AUC", Cell(j["report"]["heldout"], "auc")});
    }
  }
  if (FileExists(run + "/grpo/grpo_report.json")) {
    const json g = ReadJson(run + "/grpo/grpo_report.json");
    // The judge on the songs the policy itself lists (what GRPO's reward sees), SFT -> GRPO.
    const json none = json::object();
    const json& before = g.contains("before") ? g["before"].value("constrained", none) : none;
    const json& after = g.contains("after") ? g["after"].value("constrained", none) : none;
    if (before.contains("judge_auc_on_listed"))
      t.rows.push_back(
          {"relevance judge",
           "AUC on the policy's own constrained songs, held-out RL requests (SFT -> "
           "GRPO)",
           Cell(before, "judge_auc_on_listed") + " -> " + Cell(after, "judge_auc_on_listed")});
    if (before.contains("facet_fit") && after.contains("facet_fit")) {
      std::string v, sep;
      for (const auto& item : before["facet_fit"].items()) {
        const char* kind = item.key().c_str();
        if (!after["facet_fit"].contains(kind)) continue;
        v += sep + item.key() + " " + Cell(before["facet_fit"], kind) + " -> " +
             Cell(after["facet_fit"], kind);
        sep = "; ";
      }
      t.rows.push_back({"GRPO",
                        "share of the constrained songs fitting each facet of the request on its "
                        "own, held-out RL requests (SFT -> GRPO)",
                        v});
    }
    if (g.contains("reward_hacking")) {
      const bool raised = g["reward_hacking"]["raised"].get<bool>();
      std::string v = raised ? "RAISED: " : "not raised", sep = raised ? "" : "; ";
      for (const auto& r : g["reward_hacking"]["reasons"])
        v += sep + r.get<std::string>(), sep = "; ";
      t.rows.push_back({"GRPO", "reward-hacking alarm (held-out RL requests)", v});
    }
  }
  if (FileExists(run + "/uq2i/synth_summary.json")) {
    const json s = ReadJson(run + "/uq2i/synth_summary.json");
    t.rows.push_back({"UQ2I synthesis", "triplets", Cell(s, "triplets", 0)});
    if (s.contains("oracle")) {
      t.rows.push_back({"UQ2I synthesis",
                        "oracle relevance@10 of the target lists (before filtering)",
                        Cell(s["oracle"], "relevance_at_10") + " (" +
                            Cell(s["oracle"], "relevance_before_filtering") + ")"});
      t.rows.push_back({"UQ2I synthesis", "oracle utility of the target lists (before filtering)",
                        Cell(s["oracle"], "utility") + " (" +
                            Cell(s["oracle"], "utility_before_filtering") + ")"});
    }
  }
  if (t.rows.empty()) return;
  w.Section("Reward models and synthesised data");
  w.Add(t);
}

void Configs(const std::string& run, Writer& w) {
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(run); it != fs::recursive_directory_iterator();
       ++it) {
    if (it.depth() > 2) it.disable_recursion_pending();
    if (it->is_regular_file() && it->path().string().size() > 12 &&
        it->path().string().ends_with(".config.toml"))
      files.push_back(it->path().string());
  }
  if (files.empty()) return;
  std::sort(files.begin(), files.end());
  w.Section("Effective configuration of every command");
  for (const auto& f : files) w.Config(f.substr(run.size() + 1), ReadFile(f));
}

constexpr const char* kCss =
    "body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
    "color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;"
    "padding:3px 8px}th{background:#f2f2f2}td.n{text-align:right;font-variant-numeric:"
    "tabular-nums}h2{margin-top:2em;border-bottom:1px solid #ddd}pre{background:#f7f7f7;padding:"
    ".6em;overflow:auto}svg text{font:12px sans-serif}svg .t{font-weight:bold}svg .b{fill:#4a7ab5}"
    "svg .ax{stroke:#888}figure{margin:1em 0}";

}  // namespace

std::string HtmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string LineChartSvg(const std::string& title, const std::string& x_label,
                         const std::string& y_label, const std::vector<ChartSeries>& series,
                         bool log_y) {
  static const char* kColors[] = {"#4a7ab5", "#d9822b", "#3d9970", "#b10dc9", "#c0392b", "#555"};
  const double W = 640, H = 300, L = 60, R = 20, T = 30, B = 40;
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  auto fy = [&](double y) { return log_y ? std::log10(std::max(y, 1e-12)) : y; };
  for (const auto& s : series)
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(y)) continue;
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, fy(y)),
      y1 = std::max(y1, fy(y));
    }
  std::string svg = "<svg xmlns='http://www.w3.org/2000/svg' width='" + Num(W, 0) + "' height='" +
                    Num(H + 22.0 * series.size(), 0) + "' role='img'><title>" + HtmlEscape(title) +
                    "</title><text x='4' y='16' class='t'>" + HtmlEscape(title) + "</text>";
  if (x0 > x1) return svg + "<text x='60' y='60'>no data</text></svg>";
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1;
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double y) { return T + (1 - (fy(y) - y0) / (y1 - y0)) * (H - T - B); };
  auto unfy = [&](double v) { return log_y ? std::pow(10.0, v) : v; };
  svg += "<line class='ax' x1='" + Num(L, 0) + "' y1='" + Num(H - B, 0) + "' x2='" + Num(W - R, 0) +
         "' y2='" + Num(H - B, 0) + "'/><line class='ax' x1='" + Num(L, 0) + "' y1='" + Num(T, 0) +
         "' x2='" + Num(L, 0) + "' y2='" + Num(H - B, 0) + "'/>";
  svg += "<text x='" + Num(L, 0) + "' y='" + Num(H - B + 15, 0) + "'>" + Num(x0, 0) +
         "</text><text x='" + Num(W - R - 40, 0) + "' y='" + Num(H - B + 15, 0) + "'>" +
         Num(x1, 0) + "</text><text x='" + Num(W / 2, 0) + "' y='" + Num(H - B + 30, 0) + "'>" +
         HtmlEscape(x_label) + "</text>";
  svg += "<text x='2' y='" + Num(T + 4, 0) + "'>" + Num(unfy(y1)) + "</text><text x='2' y='" +
         Num(H - B, 0) + "'>" + Num(unfy(y0)) + "</text><text x='2' y='" + Num(H / 2, 0) + "'>" +
         HtmlEscape(y_label + (log_y ? " (log)" : "")) + "</text>";
  for (size_t i = 0; i < series.size(); ++i) {
    const char* color = kColors[i % std::size(kColors)];
    std::string pts;
    for (const auto& [x, y] : series[i].points)
      if (std::isfinite(y)) pts += Num(px(x), 1) + "," + Num(py(y), 1) + " ";
    svg += std::string("<polyline fill='none' stroke='") + color + "' stroke-width='1.5' points='" +
           pts + "'/>";
    const double ly = H + 22.0 * static_cast<double>(i);
    svg += std::string("<rect x='") + Num(L, 0) + "' y='" + Num(ly - 10, 0) +
           "' width='12' height='12' fill='" + color + "'/><text x='" + Num(L + 18, 0) + "' y='" +
           Num(ly, 0) + "'>" + HtmlEscape(series[i].name) + "</text>";
  }
  return svg + "</svg>";
}

void CheckPaperFigures(const std::string& path) { LoadPaper(path); }

RunReportFiles WriteRunReport(const std::string& run_dir, const std::string& out_dir) {
  if (!fs::is_directory(run_dir))
    throw Error("no such run directory", run_dir, "give the --out of `muchator pipeline`");
  Writer w;
  const json paper =
      FileExists(run_dir + "/paper.json") ? LoadPaper(run_dir + "/paper.json") : json();
  Evaluation(run_dir, paper, w);
  if (w.sections_ == 0 && !FileExists(run_dir + "/pretrain/pretrain_summary.json"))
    throw Error("the run has neither an evaluation report nor pre-training logs", run_dir,
                "run the main job (`muchator pipeline --out " + run_dir + "`) first");
  Knowledge(run_dir, paper, w);
  Ablations(run_dir, paper, w);
  Curves(run_dir, w);
  Components(run_dir, w);
  Configs(run_dir, w);
  MakeDirs(out_dir);
  const std::string title = "MuChator run report: " + run_dir;
  RunReportFiles files{out_dir + "/run_report.md", out_dir + "/index.html", w.sections_};
  WriteFileAtomic(files.markdown,
                  "# " + title + "\n\nCharts: index.html beside this file.\n" + w.md_);
  WriteFileAtomic(files.html,
                  "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>" +
                      HtmlEscape(title) + "</title><style>" + kCss + "</style></head><body>\n<h1>" +
                      HtmlEscape(title) + "</h1>\n" + w.html_ + "</body></html>\n");
  return files;
}

}  // namespace muchator
