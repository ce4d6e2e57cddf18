// SVG charts of training logs and attention patterns (see plot.h).
#include "inspect/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "core/error.h"
#include "io/container.h"
#include "io/json_text.h"
#include "io/jsonl.h"
#include "io/stream.h"
#include "model/config.h"

namespace mds {

namespace {

// ---- SVG text ----------------------------------------------------------------

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    switch (ch) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += ch;
    }
  }
  return o;
}

std::string num(double v) {  // short, locale-free coordinates
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  std::string s = b;
  while (s.size() > 1 && s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

std::string label(double v) {  // an axis label: 3 significant digits
  char b[32];
  if (v != 0 && (std::fabs(v) >= 1e5 || std::fabs(v) < 1e-3))
    std::snprintf(b, sizeof b, "%.2g", v);
  else
    std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}

// A colour-blind-safe palette (Okabe & Ito's eight colours, black last).
const char* colour(size_t i) {
  static const char* c[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"};
  return c[i % 8];
}

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (step, value), finite values only
};

struct Panel {
  std::string title, unit;
  std::vector<Series> series;
  bool log_y = false;
};

// "Nice" tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of 10.
std::vector<double> ticks(double lo, double hi, int want) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / want, p = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / p < 1.5 ? p : raw / p < 3.5 ? 2 * p : raw / p < 7.5 ? 5 * p : 10 * p;
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) t.push_back(std::fabs(v) < step * 1e-9 ? 0 : v);
  return t;
}

constexpr double kWidth = 760, kPanelHeight = 210, kLeft = 70, kRight = 170, kTop = 34, kBottom = 34;

// One chart at vertical offset y0: frame, ticks, one polyline per series, legend.
void draw_panel(const Panel& p, double y0, double step_lo, double step_hi, std::string& svg) {
  const double x0 = kLeft, x1 = kWidth - kRight, top = y0 + kTop, bottom = y0 + kPanelHeight - kBottom;
  double lo = INFINITY, hi = -INFINITY;
  bool positive = true;
  for (const Series& s : p.series)
    for (const auto& [x, y] : s.points) lo = std::min(lo, y), hi = std::max(hi, y), positive = positive && y > 0;
  // Log scale only pays off when the values span a decade (early losses).
  const bool log_y = p.log_y && positive && std::isfinite(lo) && hi >= 10 * lo;
  auto fy = [&](double v) { return log_y ? std::log10(v) : v; };
  double ylo = std::isfinite(lo) ? fy(lo) : 0, yhi = std::isfinite(hi) ? fy(hi) : 1;
  if (!(yhi > ylo)) ylo -= 0.5, yhi += 0.5;  // a flat series still gets a band
  const double pad = (yhi - ylo) * 0.05;
  ylo -= pad, yhi += pad;
  if (!log_y && lo >= 0 && ylo < 0) ylo = 0;
  const double sx = (x1 - x0) / std::max(step_hi - step_lo, 1.0), sy = (bottom - top) / (yhi - ylo);
  auto X = [&](double s) { return x0 + (s - step_lo) * sx; };
  auto Y = [&](double v) { return bottom - (fy(v) - ylo) * sy; };

  svg += "<g class=\"panel\" data-title=\"" + xml_escape(p.title) + "\">\n";
  svg += "<text x=\"" + num(x0) + "\" y=\"" + num(y0 + 22) + "\" font-size=\"14\" font-weight=\"bold\">" +
         xml_escape(p.title) + (p.unit.empty() ? "" : " (" + xml_escape(p.unit) + ")") +
         (log_y ? " \xe2\x80\x94 log scale" : "") + "</text>\n";
  svg += "<rect x=\"" + num(x0) + "\" y=\"" + num(top) + "\" width=\"" + num(x1 - x0) + "\" height=\"" +
         num(bottom - top) + "\" fill=\"none\" stroke=\"#888\"/>\n";
  // y ticks: in log scale at powers of 10 (and 2, 5 between when few).
  std::vector<double> yt;
  if (log_y) {
    for (double e = std::floor(ylo); e <= std::ceil(yhi); ++e)
      for (double m : {1.0, 2.0, 5.0}) {
        const double v = std::log10(m) + e;
        if (v >= ylo && v <= yhi && (m == 1.0 || yhi - ylo < 2.5)) yt.push_back(std::pow(10.0, v));
      }
  } else {
    yt = ticks(ylo, yhi, 5);
  }
  for (double v : yt) {
    const double y = Y(v);
    if (y < top - 0.5 || y > bottom + 0.5) continue;
    svg += "<line x1=\"" + num(x0) + "\" y1=\"" + num(y) + "\" x2=\"" + num(x1) + "\" y2=\"" + num(y) +
           "\" stroke=\"#ddd\"/><text x=\"" + num(x0 - 6) + "\" y=\"" + num(y + 4) +
           "\" font-size=\"11\" text-anchor=\"end\">" + label(v) + "</text>\n";
  }
  for (double s : ticks(step_lo, step_hi, 6)) {
    svg += "<text x=\"" + num(X(s)) + "\" y=\"" + num(bottom + 16) + "\" font-size=\"11\" text-anchor=\"middle\">" +
           label(s) + "</text>\n";
  }
  svg += "<text x=\"" + num(x1) + "\" y=\"" + num(bottom + 30) + "\" font-size=\"11\" text-anchor=\"end\">step</text>\n";
  for (size_t i = 0; i < p.series.size(); ++i) {
    const Series& s = p.series[i];
    svg += "<polyline class=\"series\" data-name=\"" + xml_escape(s.name) + "\" data-points=\"" +
           std::to_string(s.points.size()) + "\" fill=\"none\" stroke=\"" + colour(i) +
           "\" stroke-width=\"1.6\" points=\"";
    for (size_t k = 0; k < s.points.size(); ++k)
      svg += (k ? " " : "") + num(X(s.points[k].first)) + "," + num(Y(s.points[k].second));
    svg += "\"><title>" + xml_escape(s.name) + "</title></polyline>\n";
    if (s.points.size() == 1)  // a single point draws no line: mark it
      svg += "<circle cx=\"" + num(X(s.points[0].first)) + "\" cy=\"" + num(Y(s.points[0].second)) +
             "\" r=\"2.5\" fill=\"" + colour(i) + "\"/>\n";
    const double ly = top + 8 + 16 * static_cast<double>(i);
    svg += "<line x1=\"" + num(x1 + 12) + "\" y1=\"" + num(ly) + "\" x2=\"" + num(x1 + 32) + "\" y2=\"" + num(ly) +
           "\" stroke=\"" + colour(i) + "\" stroke-width=\"2\"/><text x=\"" + num(x1 + 38) + "\" y=\"" +
           num(ly + 4) + "\" font-size=\"11\">" + xml_escape(s.name) + "</text>\n";
  }
  svg += "</g>\n";
}

std::string svg_document(double height, const std::string& title, const std::string& body) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" + num(kWidth) + "\" height=\"" +
         num(height) + "\" viewBox=\"0 0 " + num(kWidth) + " " + num(height) +
         "\" font-family=\"sans-serif\">\n<title>" + xml_escape(title) + "</title>\n<rect width=\"100%\" "
         "height=\"100%\" fill=\"white\"/>\n" + body + "</svg>\n";
}

bool number_at(const nlohmann::json& obj, const char* key, double* v) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) return false;  // null: a non-finite value in the log
  *v = it->get<double>();
  return std::isfinite(*v);
}

}  // namespace

// ---- training log -----------------------------------------------------------

std::string plot_training_log(const std::string& path) {
  JsonlReader in(path, /*skip_bad=*/false);
  Series loss{"loss", {}}, valid{"valid loss", {}}, lr{"lr", {}}, tps{"tokens/s", {}};
  std::map<std::pair<size_t, size_t>, Series> load;  // (MoE layer, expert) -> series
  size_t layers = 0, experts = 0, lines = 0;
  nlohmann::json obj;
  while (in.next(obj)) {
    ++lines;
    if (!obj.contains("type") || !obj["type"].is_string() || !obj.contains("step") ||
        !obj["step"].is_number_unsigned())
      throw_bad_input("{}: expected a metrics line of mds-train --log with \"type\" and \"step\" (docs/training.md)",
                      in.where());
    const std::string type = obj["type"].get<std::string>();
    const double step = obj["step"].get<double>();
    double v = 0;
    if (type == "train") {
      if (number_at(obj, "loss", &v)) loss.points.push_back({step, v});
      if (number_at(obj, "lr", &v)) lr.points.push_back({step, v});
      if (number_at(obj, "tokens_per_s", &v)) tps.points.push_back({step, v});
      const auto it = obj.find("expert_load");
      if (it != obj.end() && it->is_array()) {
        for (size_t l = 0; l < it->size(); ++l) {
          const auto& row = (*it)[l];
          if (!row.is_array()) continue;
          layers = std::max(layers, l + 1);
          for (size_t e = 0; e < row.size(); ++e) {
            experts = std::max(experts, e + 1);
            if (row[e].is_number() && std::isfinite(row[e].get<double>())) {
              Series& s = load[{l, e}];
              s.name = "expert " + std::to_string(e);
              s.points.push_back({step, row[e].get<double>()});
            }
          }
        }
      }
    } else if (type == "valid") {
      if (number_at(obj, "loss", &v)) valid.points.push_back({step, v});
    }
  }
  if (loss.points.empty() && valid.points.empty())
    throw_bad_input("{}: no \"train\" or \"valid\" metrics line with a loss in {} lines: nothing to plot (train with "
                    "--log FILE and log_every > 0)",
                    in.display_name(), lines);
  std::vector<Panel> panels;
  Panel p1{"Loss", "", {}, true};
  if (!loss.points.empty()) p1.series.push_back(loss);
  if (!valid.points.empty()) p1.series.push_back(valid);
  panels.push_back(p1);
  if (!lr.points.empty()) panels.push_back(Panel{"Learning rate", "", {lr}, false});
  if (!tps.points.empty()) panels.push_back(Panel{"Throughput", "tokens/s", {tps}, false});
  for (size_t l = 0; l < layers; ++l) {
    Panel p{"Expert load, MoE layer " + std::to_string(l), "fraction of routed slots", {}, false};
    for (size_t e = 0; e < experts; ++e) {
      auto it = load.find({l, e});
      if (it != load.end()) {
        Series s = it->second;
        s.name = "layer " + std::to_string(l) + " expert " + std::to_string(e);
        p.series.push_back(std::move(s));
      }
    }
    if (!p.series.empty()) panels.push_back(std::move(p));
  }
  double lo = INFINITY, hi = -INFINITY;
  for (const Panel& p : panels)
    for (const Series& s : p.series)
      for (const auto& pt : s.points) lo = std::min(lo, pt.first), hi = std::max(hi, pt.first);
  std::string body;
  for (size_t i = 0; i < panels.size(); ++i) draw_panel(panels[i], kPanelHeight * double(i), lo, hi, body);
  return svg_document(kPanelHeight * double(panels.size()), "mds training log " + in.display_name(), body);
}

// ---- attention pattern ------------------------------------------------------

std::string plot_attention_pattern(const nlohmann::json& model_json, const std::string& source) {
  ModelConfig c;
  try {
    c = model_config_from_json(model_json);
  } catch (const Error& e) {
    if (e.code() != ExitCode::usage) throw;
    throw_bad_input("{}: the model config is invalid: {}", source, e.what());
  }
  // One example as pack_batch lays it out: [CLS] src [SEP] trg-region [SEP].
  const int S = std::min(c.max_src_len, 48), T = std::min(c.max_trg_len, 16);
  const int L = S + 2 + T + 1, start = S + 2;
  std::vector<bool> global(size_t(L), false);
  global[0] = true;  // the same rule as lib/model/batch.cpp global_positions
  if (c.global_source_stride > 0)
    for (int l = c.global_source_stride; l < start - 1; l += c.global_source_stride) global[size_t(l)] = true;
  global[size_t(start - 1)] = true;
  if (c.global_target)
    for (int l = start; l < L; ++l) global[size_t(l)] = true;
  const int window = c.attention_window == 0 ? L : std::min(c.attention_window, L);
  std::vector<int> dil = c.head_dilations();
  std::vector<int> distinct;
  for (int d : dil)
    if (std::find(distinct.begin(), distinct.end(), d) == distinct.end()) distinct.push_back(d);

  const double cell = std::max(2.0, std::min(7.0, 420.0 / L)), grid = cell * L, gap = 36, top = 64, left = 40;
  const double width = std::max(kWidth, left + double(distinct.size()) * (grid + gap) + 20);
  std::string body;
  body += "<text x=\"" + num(left) + "\" y=\"22\" font-size=\"14\" font-weight=\"bold\">Attention pattern: window " +
          std::to_string(c.attention_window) + (c.attention_window == 0 ? " (dense)" : " keys per side") +
          ", global source stride " + std::to_string(c.global_source_stride) + ", global target " +
          (c.global_target ? "yes" : "no") + "</text>\n";
  body += "<text x=\"" + num(left) + "\" y=\"40\" font-size=\"11\">one example with a " + std::to_string(S) +
          "-token source and a " + std::to_string(T) + "-token target region (" + std::to_string(L) +
          " positions; rows: queries, columns: keys). Blue: window; orange: global keys; green: global queries "
          "(see every key).</text>\n";
  for (size_t k = 0; k < distinct.size(); ++k) {
    const int d = distinct[k];
    std::vector<int> heads;
    for (size_t h = 0; h < dil.size(); ++h)
      if (dil[h] == d) heads.push_back(int(h));
    std::string hs;
    for (size_t i = 0; i < heads.size(); ++i) hs += (i ? "," : "") + std::to_string(heads[i]);
    const double gx = left + double(k) * (grid + gap), gy = top;
    int attended = 0;
    std::string cells;
    for (int i = 0; i < L; ++i) {
      // The rule of lib/cpu/attention.cpp: a global query sees every key; any
      // other sees the keys within window*d of it at multiples of d, and globals.
      auto fill_of = [&](int j) -> const char* {
        const bool in_window = std::abs(j - i) <= int64_t(window) * d && (j - i) % d == 0;
        return global[size_t(i)] ? "#009E73" : in_window ? "#0072B2" : global[size_t(j)] ? "#E69F00" : nullptr;
      };
      // One rectangle per run of equal cells in the row keeps the file small.
      for (int j = 0; j < L;) {
        const char* fill = fill_of(j);
        int end = j + 1;
        while (end < L && fill_of(end) == fill) ++end;
        if (fill) {
          attended += end - j;
          cells += "<rect x=\"" + num(gx + cell * j) + "\" y=\"" + num(gy + cell * i) + "\" width=\"" +
                   num(cell * (end - j)) + "\" height=\"" + num(cell) + "\" fill=\"" + fill + "\"/>";
        }
        j = end;
      }
    }
    body += "<g class=\"pattern\" data-dilation=\"" + std::to_string(d) + "\" data-heads=\"" + hs +
            "\" data-positions=\"" + std::to_string(L) + "\" data-cell=\"" + num(cell) + "\" data-attended=\"" +
            std::to_string(attended) + "\">\n";
    body += "<text x=\"" + num(gx) + "\" y=\"" + num(gy - 8) + "\" font-size=\"12\">dilation " + std::to_string(d) +
            " (head" + (heads.size() > 1 ? "s " : " ") + hs + ")</text>\n";
    body += "<rect x=\"" + num(gx) + "\" y=\"" + num(gy) + "\" width=\"" + num(grid) + "\" height=\"" + num(grid) +
            "\" fill=\"#f4f4f4\" stroke=\"#888\"/>\n" + cells + "\n";
    // Where the target region starts, on both axes.
    body += "<line x1=\"" + num(gx + cell * start) + "\" y1=\"" + num(gy) + "\" x2=\"" + num(gx + cell * start) +
            "\" y2=\"" + num(gy + grid) + "\" stroke=\"#000\" stroke-dasharray=\"3,3\"/>";
    body += "<line x1=\"" + num(gx) + "\" y1=\"" + num(gy + cell * start) + "\" x2=\"" + num(gx + grid) + "\" y2=\"" +
            num(gy + cell * start) + "\" stroke=\"#000\" stroke-dasharray=\"3,3\"/>\n</g>\n";
  }
  const double height = top + grid + 30;
  std::string svg = svg_document(height, "mds attention pattern " + source, body);
  // The document was laid out for kWidth; widen it for many dilations.
  if (width > kWidth) {
    const std::string from = "width=\"" + num(kWidth) + "\"", to = "width=\"" + num(width) + "\"";
    svg.replace(svg.find(from), from.size(), to);
    const std::string vb = "viewBox=\"0 0 " + num(kWidth), vb2 = "viewBox=\"0 0 " + num(width);
    svg.replace(svg.find(vb), vb.size(), vb2);
  }
  return svg;
}

// ---- dispatch ---------------------------------------------------------------

std::string plot_kind(const std::string& path) {
  const std::vector<uint8_t> head = read_all_bytes(path);
  if (head.size() >= 4 && head[0] == 0x5E && head[1] == 0x2A && head[2] == 0x4D && head[3] == 0x18) return "checkpoint";
  const std::string_view text(reinterpret_cast<const char*>(head.data()), head.size());
  nlohmann::json doc;
  JsonParseError e;
  if (parse_json(text, doc, &e) && doc.is_object() && doc.contains("model")) return "config";
  return "log";
}

std::string plot_file(const std::string& path, const std::string& out) {
  if (path == "-") throw_usage("--plot reads a file, not stdin (it looks at the file twice)");
  const std::string kind = plot_kind(path);
  std::string svg;
  if (kind == "log") {
    svg = plot_training_log(path);
  } else if (kind == "config") {
    const std::vector<uint8_t> bytes = read_all_bytes(path);
    nlohmann::json doc;
    JsonParseError e;
    parse_json(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), doc, &e);
    if (!doc["model"].is_object()) throw_bad_input("{}: \"model\" is {}, expected an object", path, doc["model"].type_name());
    svg = plot_attention_pattern(doc["model"], path);
  } else {
    const Container c = read_container(path);
    if (!c.meta.contains("config") || !c.meta["config"].is_object() || !c.meta["config"].contains("model") ||
        !c.meta["config"]["model"].is_object())
      throw_bad_input("{}: a {} file without a model config: --plot draws training logs, config files and "
                      "checkpoints", path, c.kind);
    svg = plot_attention_pattern(c.meta["config"]["model"], path);
  }
  OutputFile f(out);
  f.write(svg);
  f.commit();
  return kind;
}

}  // namespace mds
