// Pictures for mds-inspect --plot: a training log (mds-train --log JSON Lines)
// as line charts of loss and validation loss, learning rate, tokens per
// second and the expert load of every MoE layer over steps; a model config
// (a config file or a checkpoint's) as its attention pattern (window,
// dilation per head, global tokens). Plain SVG 1.1 written by mds itself,
// no script or external resource, so any browser shows it. Every data line
// is an SVG <polyline class="series" data-name="..."> so that tests and
// tools can find the series.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace mds {

// What --plot draws for `path`: "log" (JSON Lines with "type" and "step"),
// "config" (one JSON object with a "model" object) or "checkpoint" (an .mds
// checkpoint; its config is drawn). Bad input naming the file otherwise.
std::string plot_kind(const std::string& path);

// SVG of a training log. Bad input naming the file and line for a line that
// is not a JSON object or lacks "type"/"step", and for a log without a single
// "train" or "valid" line.
std::string plot_training_log(const std::string& path);

// SVG of the attention pattern of a "model" config object, shown on one
// example whose source and target fill at most 48 and 16 positions (the
// title says the lengths shown). Usage errors for an invalid config are
// bad input naming `source`.
std::string plot_attention_pattern(const nlohmann::json& model_config, const std::string& source);

// Writes the SVG for `path` (whichever kind it is) to `out` atomically.
// Returns the kind drawn.
std::string plot_file(const std::string& path, const std::string& out);

}  // namespace mds
