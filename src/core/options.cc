#include "core/options.h"

#include <toml++/toml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "core/file.h"
#include "core/strings.h"

namespace muchator {

namespace {

// The current value of a target as text, for --help defaults and error messages.
std::string ValueText(const Options::Target& t) {
  return std::visit(
      [](auto* p) -> std::string {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>)
          return *p;
        else if constexpr (std::is_same_v<T, bool>)
          return *p ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::vector<std::string>>)
          return JoinStrings(*p, ",");
        else if constexpr (std::is_same_v<T, Options::NamedValues>) {
          std::string out;
          for (const auto& [name, value] : *p) out += (out.empty() ? "" : ",") + name + "=" + value;
          return out;
        } else if constexpr (std::is_same_v<T, std::vector<double>>) {
          std::ostringstream ss;
          for (size_t i = 0; i < p->size(); ++i) ss << (i ? "," : "") << (*p)[i];
          return ss.str();
        } else if constexpr (std::is_same_v<T, double>) {
          std::ostringstream ss;
          ss << *p;
          return ss.str();
        } else
          return std::to_string(*p);
      },
      t);
}

double NumericValue(const Options::Target& t) {
  if (auto p = std::get_if<int64_t*>(&t)) return static_cast<double>(**p);
  if (auto p = std::get_if<int*>(&t)) return **p;
  if (auto p = std::get_if<double*>(&t)) return **p;
  return NAN;
}

// Parses `text` into the target; returns an error message or "".
std::string ParseInto(const Options::Target& t, const std::string& text) {
  try {
    size_t used = 0;
    if (auto p = std::get_if<std::string*>(&t)) {
      **p = text;
    } else if (auto p = std::get_if<int64_t*>(&t)) {
      **p = std::stoll(text, &used);
      if (used != text.size()) return "'" + text + "' is not an integer";
    } else if (auto p = std::get_if<int*>(&t)) {
      const long long v = std::stoll(text, &used);
      if (used != text.size() || v < INT32_MIN || v > INT32_MAX)
        return "'" + text + "' is not a 32-bit integer";
      **p = static_cast<int>(v);
    } else if (auto p = std::get_if<double*>(&t)) {
      **p = std::stod(text, &used);
      if (used != text.size()) return "'" + text + "' is not a number";
    } else if (auto p = std::get_if<bool*>(&t)) {
      if (text == "true" || text == "1" || text == "yes" || text == "on")
        **p = true;
      else if (text == "false" || text == "0" || text == "no" || text == "off")
        **p = false;
      else
        return "'" + text + "' is not true/false";
    } else if (auto p = std::get_if<std::vector<std::string>*>(&t)) {
      (*p)->clear();
      std::stringstream ss(text);
      std::string item;
      while (std::getline(ss, item, ','))
        if (!item.empty()) (*p)->push_back(item);
    } else if (auto p = std::get_if<std::vector<double>*>(&t)) {
      std::vector<double> values;
      std::stringstream ss(text);
      std::string item;
      while (std::getline(ss, item, ',')) {
        item = Trim(item);
        if (item.empty()) continue;
        double v = NAN;
        try {
          v = std::stod(item, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != item.size()) return "'" + item + "' is not a number";
        values.push_back(v);
      }
      **p = std::move(values);
    } else if (auto p = std::get_if<Options::NamedValues*>(&t)) {
      Options::NamedValues pairs;
      std::stringstream ss(text);
      std::string item;
      while (std::getline(ss, item, ',')) {
        item = Trim(item);
        if (item.empty()) continue;
        const size_t eq = item.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
          return "'" + item + "' is not NAME=VALUE";
        pairs.emplace_back(Trim(item.substr(0, eq)), Trim(item.substr(eq + 1)));
      }
      **p = std::move(pairs);
    }
  } catch (const std::exception&) {
    return "'" + text + "' is not a valid value";
  }
  return "";
}

}  // namespace

Options::Options() = default;
Options::~Options() = default;

Options::Option& Options::Option::Positional() {
  positional_ = true;
  return *this;
}

Options::Option& Options::Option::Required() {
  required_ = true;
  return *this;
}

Options::Option& Options::Option::Range(double lo, double hi) {
  Target t = target_;
  checks_.push_back([t, lo, hi]() -> std::string {
    if (auto list = std::get_if<std::vector<double>*>(&t)) {
      for (const double v : **list)
        if (std::isnan(v) || v < lo || v > hi) {
          std::ostringstream ss;
          ss << "values must be between " << lo << " and " << hi << ", got " << v;
          return ss.str();
        }
      return "";
    }
    const double v = NumericValue(t);
    if (std::isnan(v) || v < lo || v > hi) {
      std::ostringstream ss;
      ss << "must be between " << lo << " and " << hi << ", got " << ValueText(t);
      return ss.str();
    }
    return "";
  });
  return *this;
}

Options::Option& Options::Option::Size(size_t n, std::string what) {
  Target t = target_;
  checks_.push_back([t, n, what]() -> std::string {
    const size_t got = std::visit(
        [](auto* p) -> size_t {
          using T = std::remove_pointer_t<decltype(p)>;
          if constexpr (std::is_same_v<T, std::vector<std::string>> ||
                        std::is_same_v<T, std::vector<double>> || std::is_same_v<T, NamedValues>)
            return p->size();
          else
            return 1;
        },
        t);
    if (got == n) return "";
    return "needs " + std::to_string(n) + " values (" + what + "), got " + std::to_string(got);
  });
  return *this;
}

Options::Option& Options::Option::OneOf(std::vector<std::string> allowed) {
  allowed_ = allowed;
  Target t = target_;
  checks_.push_back([t, allowed]() -> std::string {
    const std::string v = ValueText(t);
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end())
      return "must be one of " + JoinStrings(allowed, ", ") + ", got '" + v + "'";
    return "";
  });
  return *this;
}

Options::Option& Options::Option::Check(std::function<std::string()> check) {
  checks_.push_back(std::move(check));
  return *this;
}

Options::Option& Options::AddTarget(std::string name, Target target, std::string help) {
  if (Find(name)) throw std::logic_error("option declared twice: " + name);
  auto o = std::make_unique<Option>();
  o->name_ = std::move(name);
  o->help_ = std::move(help);
  o->target_ = target;
  options_.push_back(std::move(o));
  return *options_.back();
}

Options::Option& Options::AddFlag(const Flag& flag, Target target, std::string help) {
  Option& o = AddTarget(std::string(flag.name), target,
                        help.empty() ? std::string(flag.help) : std::move(help));
  if (std::isfinite(flag.lo) || std::isfinite(flag.hi)) o.Range(flag.lo, flag.hi);
  if (flag.choices) o.OneOf(flag.choices());
  return o;
}

Options::Option* Options::Find(const std::string& name) {
  for (auto& o : options_)
    if (o->name_ == name) return o.get();
  return nullptr;
}

void Options::Bind(CLI::App& app) {
  app.add_option("--config", config_file_,
                 "TOML file with option values (keys as the flag names); flags override it");
  for (auto& op : options_) {
    Option& o = *op;
    std::string help = o.help_;
    if (!o.allowed_.empty()) help += " {" + JoinStrings(o.allowed_, ",") + "}";
    if (o.required_) help += " (required)";
    const std::string flag = o.positional_ ? o.name_ + ",--" + o.name_ : "--" + o.name_;
    if (std::holds_alternative<bool*>(o.target_)) {
      o.cli_ = app.add_flag(flag + "{true}", o.cli_flag_,
                            help + " [default: " + ValueText(o.target_) + "]");
    } else if (std::holds_alternative<std::vector<std::string>*>(o.target_) ||
               std::holds_alternative<NamedValues*>(o.target_)) {
      o.cli_ = app.add_option(flag, o.cli_list_, help)->delimiter(',');
      o.cli_->default_str(ValueText(o.target_));
    } else {
      o.cli_ = app.add_option(flag, o.cli_text_, help);
      o.cli_->default_str(ValueText(o.target_));
    }
  }
}

void Options::ApplyCliValue(Option& o) {
  if (!o.cli_ || o.cli_->count() == 0) return;
  std::string err;
  if (auto p = std::get_if<bool*>(&o.target_)) {
    **p = o.cli_flag_;
  } else if (auto p = std::get_if<std::vector<std::string>*>(&o.target_)) {
    **p = o.cli_list_;
  } else if (std::holds_alternative<NamedValues*>(o.target_)) {
    err = ParseInto(o.target_, JoinStrings(o.cli_list_, ","));
  } else {
    err = ParseInto(o.target_, o.cli_text_);
  }
  if (!err.empty()) throw Error("--" + o.name_ + ": " + err, "", "see --help");
  o.set_ = true;
}

void Options::ApplyToml(const std::string& path) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw Error(std::string("invalid TOML: ") + std::string(e.description()),
                path + ":" + std::to_string(e.source().begin.line),
                "fix the syntax of the config file");
  } catch (const std::exception& e) {
    throw Error(std::string("cannot read config file: ") + e.what(), path);
  }
  for (auto&& [key, node] : table) {
    const std::string k(key.str());
    const std::string where = path + ":" + std::to_string(node.source().begin.line);
    Option* o = Find(k);
    if (!o) {
      std::vector<std::string> names;
      for (auto& op : options_) names.push_back(op->name_);
      throw Error("unknown key '" + k + "'", where, "known keys: " + JoinStrings(names, ", "));
    }
    std::string text, err;
    if (auto s = node.value<std::string>(); s && node.is_string()) {
      text = *s;
    } else if (node.is_integer()) {
      text = std::to_string(*node.value<int64_t>());
    } else if (node.is_floating_point()) {
      std::ostringstream ss;
      ss.precision(17);
      ss << *node.value<double>();
      text = ss.str();
      if (std::holds_alternative<int64_t*>(o->target_) || std::holds_alternative<int*>(o->target_))
        err = "expected an integer, got " + text;
    } else if (node.is_boolean()) {
      text = *node.value<bool>() ? "true" : "false";
    } else if (auto arr = node.as_array()) {
      const bool numbers = std::holds_alternative<std::vector<double>*>(o->target_);
      std::vector<std::string> items;
      for (auto&& item : *arr) {
        if (numbers && (item.is_integer() || item.is_floating_point())) {
          std::ostringstream ss;
          ss.precision(17);
          ss << *item.value<double>();
          items.push_back(ss.str());
        } else if (!numbers && item.is_string()) {
          items.push_back(*item.value<std::string>());
        } else {
          err = numbers ? "array items must be numbers" : "array items must be strings";
          break;
        }
      }
      text = JoinStrings(items, ",");
      if (!numbers && !std::holds_alternative<std::vector<std::string>*>(o->target_) &&
          !std::holds_alternative<NamedValues*>(o->target_))
        err = "expected a single value, got an array";
    } else {
      err = "unsupported value type";
    }
    if (err.empty()) err = ParseInto(o->target_, text);
    if (!err.empty()) throw Error("'" + k + "': " + err, where, "fix the config file");
    o->set_ = true;
  }
}

void Options::Resolve() {
  if (!config_file_.empty()) ApplyToml(config_file_);
  for (auto& o : options_) ApplyCliValue(*o);
  CheckValues();
}

void Options::CheckValues() const {
  for (const auto& o : options_) {
    if (o->required_ && !o->set_ && ValueText(o->target_).empty())
      throw Error("missing required option --" + o->name_, "",
                  "give --" + o->name_ + " (" + o->help_ + ") or set it in --config");
    for (auto& check : o->checks_) {
      const std::string err = check();
      if (!err.empty()) throw Error("--" + o->name_ + " " + err, "", "see --help");
    }
  }
}

std::string Options::ToToml() const {
  toml::table t;
  for (auto& op : options_) {
    const Option& o = *op;
    std::visit(
        [&](auto* p) {
          using T = std::remove_pointer_t<decltype(p)>;
          if constexpr (std::is_same_v<T, std::vector<std::string>> ||
                        std::is_same_v<T, std::vector<double>>) {
            toml::array a;
            for (auto& s : *p) a.push_back(s);
            t.insert(o.name_, std::move(a));
          } else if constexpr (std::is_same_v<T, NamedValues>) {
            toml::array a;
            for (auto& [name, value] : *p) a.push_back(name + "=" + value);
            t.insert(o.name_, std::move(a));
          } else if constexpr (std::is_same_v<T, int>) {
            t.insert(o.name_, static_cast<int64_t>(*p));
          } else {
            t.insert(o.name_, *p);
          }
        },
        o.target_);
  }
  std::ostringstream ss;
  ss << "# Effective configuration (defaults <- config file <- flags).\n";
  ss << toml::toml_formatter(t) << "\n";
  return ss.str();
}

std::string Options::Setting(const std::string& name) const {
  for (const auto& o : options_) {
    if (o->name_ != name) continue;
    if (std::holds_alternative<std::string*>(o->target_))
      return name + " = \"" + ValueText(o->target_) + "\"";
    return name + " = " + ValueText(o->target_);
  }
  throw std::logic_error("no option named " + name);
}

std::vector<std::string> Options::Names() const {
  std::vector<std::string> names;
  for (const auto& o : options_) names.push_back(o->name_);
  return names;
}

void Options::WriteEffective(const std::string& path) const { WriteFileAtomic(path, ToToml()); }

Options::Option& AddSeed(Options& opts, int64_t* seed, std::string help) {
  return opts.Add("seed", seed, std::move(help)).Range(0, 9e18);
}

Options::Option& AddThreads(Options& opts, int64_t* threads) {
  return opts.Add("threads", threads, "compute threads (0 = all cores)").Range(0, 1024);
}

Options::Option& AddStore(Options& opts, std::string* store, std::string help) {
  return opts.Add("store", store, std::move(help));
}

Options::Option& AddOut(Options& opts, std::string* out, std::string help) {
  return opts.Add("out", out, std::move(help));
}

Options::Option& AddPath(Options& opts, PathFlag which, std::string* path, std::string help) {
  static const char* const kPathFlagNames[] = {"run",   "world", "model",     "init",   "ranker",
                                               "judge", "input", "tokenizer", "corpus", "triplets"};
  return opts.Add(kPathFlagNames[static_cast<int>(which)], path, std::move(help));
}

}  // namespace muchator
