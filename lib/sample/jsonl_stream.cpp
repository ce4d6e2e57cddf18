// Streaming JSONL generation: batches of records in, annotated records out.
#include "sample/jsonl_stream.h"

#include <algorithm>
#include <chrono>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_text.h"
#include "io/jsonl.h"
#include "sample/sample_config.h"

namespace mds {
namespace {

using ordered = nlohmann::ordered_json;

std::string dump_text(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A record waiting for its batch: the raw line and where it came from.
struct Pending {
  std::string raw;
  SampleRequest request;
};

// Parses records with a string "src", keeping the raw line so the output can
// preserve it byte for byte; malformed ones throw (file:line) or are counted.
class RecordReader {
 public:
  // before_read runs before every line is read (it may run a waiting batch).
  RecordReader(LineSource& in, bool skip_bad, std::function<void()> before_read)
      : in_(in), skip_bad_(skip_bad), before_read_(std::move(before_read)) {}

  // Next record; false at the end of the input.
  bool next(std::string& raw, std::string& src) {
    for (;;) {
      before_read_();
      if (!in_.next(line_)) break;
      while (!line_.empty() && (line_.back() == '\r' || line_.back() == ' ' || line_.back() == '\t')) line_.pop_back();
      nlohmann::json obj;
      std::string why;
      const JsonlLine kind = parse_jsonl_line(line_, obj, &why, "a JSON object with a \"src\" string");
      if (kind == JsonlLine::blank) continue;
      const std::string* s =
          kind == JsonlLine::object ? jsonl_string_field(obj, "src", &why, " (the source text to generate from)") : nullptr;
      if (!s) {
        reject(why);
        continue;
      }
      src = *s;
      raw = line_;
      return true;
    }
    return false;
  }
  uint64_t skipped() const { return skipped_; }
  const std::vector<std::string>& examples() const { return examples_; }

 private:
  void reject(const std::string& what) {
    if (!skip_bad_) throw_bad_input("{}: {}", in_.where(), what);
    if (examples_.size() < 5) examples_.push_back(fmt::format("{}: {}", in_.where(), what));
    ++skipped_;
  }
  std::vector<std::string> examples_;
  LineSource& in_;
  bool skip_bad_;
  std::function<void()> before_read_;
  std::string line_;
  uint64_t skipped_ = 0;
};

}  // namespace

FileLineSource::FileLineSource(std::vector<std::string> paths) : paths_(std::move(paths)) {
  if (paths_.empty()) paths_.push_back("-");
}
FileLineSource::~FileLineSource() = default;

bool FileLineSource::next(std::string& line) {
  for (;;) {
    if (!lines_) {
      if (file_ >= paths_.size()) return false;
      lines_ = std::make_unique<LineReader>(paths_[file_++]);
    }
    if (lines_->next(line)) {
      last_where_ = fmt::format("{}:{}", lines_->display_name(), lines_->line_number());
      return true;
    }
    lines_.reset();
  }
}

std::string FileLineSource::where() const { return last_where_; }

bool FileLineSource::wait_for_line(int timeout_ms) {
  if (!lines_) return true;  // the next file is opened by next(); its first wait is its own
  return lines_->wait_for_line(timeout_ms);
}

void OutputFileSink::write_line(const std::string& line) {
  out_.write(line);
  out_.write("\n", 1);
}

std::string annotate_record(const std::string& raw, const std::string& hyp, const std::vector<std::string>* candidates) {
  // raw passed RecordReader, but callers may hand in any line: parse it under
  // the same limits, since the copy below recurses once per nesting level.
  ordered obj;
  JsonParseError e;
  if (!parse_json(raw, obj, &e)) throw_bad_input("record to annotate: {}", jsonl_parse_message(e));
  // Only an object can take a "hyp" key (nlohmann would throw a type_error).
  if (!obj.is_object()) throw_bad_input("record to annotate: expected a JSON object, found {}", obj.type_name());
  const bool clash = obj.contains("hyp") || (candidates && obj.contains("candidates"));
  if (!clash && !obj.empty() && !raw.empty() && raw.back() == '}') {
    std::string out = raw.substr(0, raw.size() - 1);
    out += ",\"hyp\":" + dump_text(hyp);
    if (candidates) {
      out += ",\"candidates\":[";
      for (size_t i = 0; i < candidates->size(); ++i) out += (i ? "," : "") + dump_text((*candidates)[i]);
      out += "]";
    }
    return out + "}";
  }
  ordered copy = obj;
  copy["hyp"] = hyp;
  if (candidates) copy["candidates"] = *candidates;
  return copy.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

StreamStats sample_jsonl(Sampler& sampler, const TextCodec& codec, const StreamOptions& opt, LineSource& in,
                         LineSink& out) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto since = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  const size_t C = static_cast<size_t>(sampler.options().candidates);
  if (C > 1 && !opt.select) throw_usage("{} candidates per source need an MBR selector", C);
  validate(opt);  // sort window and idle flush: their ranges are the schema's
  StreamStats stats;
  std::vector<Pending> pending;
  std::function<void()> run;
  // Records waiting while the producer is idle are run as a partial batch.
  RecordReader reader(in, opt.skip_bad, [&] {
    if (opt.idle_flush_ms > 0 && !pending.empty() && !in.wait_for_line(opt.idle_flush_ms)) {
      ++stats.idle_batches;
      run();
    }
  });
  // Sources per batch: enough to fill batch_size rows (at least one).
  const size_t per_batch = std::max<size_t>(1, static_cast<size_t>(sampler.options().batch_size) / C);
  const size_t window = per_batch * static_cast<size_t>(opt.sort_window);
  uint64_t index = 0;

  run = [&] {
    if (pending.empty()) return;
    // Longest sources first so each batch pads little; results go back to
    // input order (a record's output does not depend on its batch).
    std::vector<size_t> order(pending.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return pending[a].request.src.size() > pending[b].request.src.size();
    });
    std::vector<SampleRequest> requests;
    requests.reserve(pending.size());
    for (size_t i : order) requests.push_back(std::move(pending[i].request));
    const std::vector<SampleResult> sorted = sampler.generate(requests);
    std::vector<SampleResult> results(sorted.size());
    for (size_t k = 0; k < order.size(); ++k) results[order[k]] = sorted[k];
    for (size_t i = 0; i < pending.size(); ++i) {
      std::vector<std::string> texts;
      for (const auto& ids : results[i].candidates) texts.push_back(codec.decode(ids));
      const size_t pick = C > 1 ? opt.select(texts) : 0;
      if (pick >= texts.size()) throw_runtime("MBR selector returned candidate {} of {}", pick, texts.size());
      out.write_line(annotate_record(pending[i].raw, texts[pick], opt.keep_candidates ? &texts : nullptr));
    }
    out.flush();
    if (stats.first_output_seconds < 0) stats.first_output_seconds = since();
    stats.records += pending.size();
    pending.clear();
    if (opt.on_batch) {
      stats.skipped = reader.skipped();
      stats.skipped_examples = reader.examples();
      stats.seconds = since();
      opt.on_batch(stats);
    }
  };

  std::string raw, src;
  while (reader.next(raw, src)) {
    Pending p;
    p.raw = raw;
    p.request.src = codec.encode(src);
    p.request.index = index++;
    pending.push_back(std::move(p));
    if (pending.size() >= window) run();
  }
  run();
  stats.skipped = reader.skipped();
  stats.skipped_examples = reader.examples();
  stats.seconds = since();
  return stats;
}

}  // namespace mds
