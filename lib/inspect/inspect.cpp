// Reports for mds-inspect (inspect.h). Shards are summarised over all units
// (records, truncation, length histograms, token frequencies); tokenizers are
// loaded (which runs their self-test) and described; any other kind shows its
// units' headers, metadata and section tables.
#include "inspect/inspect.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>

#include <fmt/format.h>

#include "core/error.h"
#include "data/shard.h"
#include "io/container.h"
#include "io/safetensors.h"
#include "io/stream.h"
#include "text/display.h"
#include "text/tokenizer.h"

namespace mds {

namespace {

using json = nlohmann::json;

json section_table(const Container& c) {
  json out = json::array();
  for (const Section& s : c.sections)
    out.push_back({{"name", s.name}, {"dtype", dtype_name(s.dtype)}, {"shape", s.shape}, {"bytes", s.data.size()}});
  return out;
}

json unit_header(const Container& c, uint64_t offset) {
  // The reader accepts only versions up to kContainerFormatVersion and does
  // not report the unit's own version, so this is the version it accepted.
  return {{"offset", offset}, {"kind", c.kind}, {"format_version", kContainerFormatVersion}};
}

// Length statistics with power-of-two histogram bins [0,1), [1,2), [2,4), ...
json length_stats(std::vector<uint64_t> lengths) {
  json out;
  if (lengths.empty()) {
    out = {{"count", 0}};
    return out;
  }
  std::sort(lengths.begin(), lengths.end());
  auto pct = [&](double p) {
    size_t i = static_cast<size_t>(std::ceil(p * static_cast<double>(lengths.size())));
    return lengths[std::min(lengths.size() - 1, i == 0 ? 0 : i - 1)];
  };
  const double sum = std::accumulate(lengths.begin(), lengths.end(), 0.0);
  out = {{"count", lengths.size()},
         {"min", lengths.front()},
         {"mean", sum / static_cast<double>(lengths.size())},
         {"p50", pct(0.5)},
         {"p90", pct(0.9)},
         {"p99", pct(0.99)},
         {"max", lengths.back()}};
  json hist = json::array();
  uint64_t lo = 0, hi = 1;
  while (hi <= lengths.front()) {  // start at the bin holding the shortest
    lo = hi;
    hi *= 2;
  }
  size_t i = 0;
  while (i < lengths.size()) {
    size_t j = i;
    while (j < lengths.size() && lengths[j] < hi) ++j;
    hist.push_back({{"lo", lo}, {"hi", hi}, {"count", j - i}});
    i = j;
    lo = hi;
    hi *= 2;
  }
  out["histogram"] = hist;
  return out;
}

// One value if all units agree, else the sorted distinct values.
json merged_value(const std::set<std::string>& dumped) {
  if (dumped.size() == 1) return json::parse(*dumped.begin());
  json arr = json::array();
  for (const auto& d : dumped) arr.push_back(json::parse(d));
  return arr;
}

json shard_report(const std::vector<Container>& units, const std::vector<uint64_t>& offsets, uint64_t file_end,
                  const std::string& name, const InspectOptions& opts, const Tokenizer* tok) {
  json r;
  uint64_t records = 0, trunc_src = 0, trunc_trg = 0, src_tokens = 0, trg_tokens = 0, vocab = 0, data_units = 0;
  std::set<std::string> hashes, max_src, max_trg, policies;
  std::vector<uint64_t> src_len, trg_len;
  std::vector<uint64_t> freq;
  ShardEndCheck end_check(name);
  for (size_t k = 0; k < units.size(); ++k) {
    const std::string where = fmt::format("{}: unit {} at offset {}", name, k, offsets[k]);
    if (units[k].kind == kShardEndKind) {
      end_check.end_unit(units[k], where);
      continue;
    }
    ShardUnit u = shard_unit_from_container(units[k], where);
    end_check.data_unit(u, offsets[k], where);
    ++data_units;
    records += u.size();
    trunc_src += u.meta.value("truncated_src", uint64_t{0});
    trunc_trg += u.meta.value("truncated_trg", uint64_t{0});
    src_tokens += u.src_ids.size();
    trg_tokens += u.trg_ids.size();
    vocab = std::max(vocab, u.meta["vocab_size"].get<uint64_t>());
    hashes.insert(json(u.meta["tokenizer_hash"]).dump());
    max_src.insert(u.meta.value("max_src_len", json(nullptr)).dump());
    max_trg.insert(u.meta.value("max_trg_len", json(nullptr)).dump());
    policies.insert(u.meta.value("truncate", json(nullptr)).dump());
    for (size_t i = 0; i < u.size(); ++i) {
      src_len.push_back(u.src_offsets[i + 1] - u.src_offsets[i]);
      trg_len.push_back(u.trg_offsets[i + 1] - u.trg_offsets[i]);
    }
    // Size the table by the ids present, not by the (untrusted) vocab_size.
    uint32_t top_id = 0;
    for (uint32_t id : u.src_ids) top_id = std::max(top_id, id);
    for (uint32_t id : u.trg_ids) top_id = std::max(top_id, id);
    if (freq.size() <= top_id) freq.resize(static_cast<size_t>(top_id) + 1, 0);
    for (uint32_t id : u.src_ids) ++freq[id];
    for (uint32_t id : u.trg_ids) ++freq[id];
  }
  end_check.end_of_file(file_end);
  r = {{"units", data_units},
       {"end_units", end_check.end_units()},
       {"records", records},
       {"vocab_size", vocab},
       {"tokenizer_hash", merged_value(hashes)},
       {"max_src_len", merged_value(max_src)},
       {"max_trg_len", merged_value(max_trg)},
       {"truncate", merged_value(policies)},
       {"truncated_src", trunc_src},
       {"truncated_trg", trunc_trg},
       {"src_tokens", src_tokens},
       {"trg_tokens", trg_tokens},
       {"src_length", length_stats(std::move(src_len))},
       {"trg_length", length_stats(std::move(trg_len))}};
  std::vector<uint32_t> order;
  for (uint32_t id = 0; id < freq.size(); ++id)
    if (freq[id]) order.push_back(id);
  r["distinct_tokens"] = order.size();
  const size_t top = std::min(opts.top, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(top), order.end(),
                    [&](uint32_t a, uint32_t b) { return freq[a] != freq[b] ? freq[a] > freq[b] : a < b; });
  json tops = json::array();
  const double total = static_cast<double>(src_tokens + trg_tokens);
  for (size_t i = 0; i < top; ++i) {
    json t = {{"id", order[i]}, {"count", freq[order[i]]}, {"share", freq[order[i]] / total}};
    if (tok && order[i] < tok->vocab_size()) t["text"] = escape_bytes(tok->token_bytes(order[i]));
    tops.push_back(t);
  }
  r["top_tokens"] = tops;
  if (tok) {
    r["tokenizer"] = {{"file", opts.tokenizer}, {"hash", tok->hash()}};
    if (hashes.size() != 1 || json::parse(*hashes.begin()) != tok->hash())
      r["tokenizer"]["warning"] = "the shard was not encoded with this tokenizer: decoded texts are meaningless";
  }
  return r;
}

json tokenizer_report(const Container& c, const InspectOptions& opts) {
  Tokenizer tok = Tokenizer::from_container(c);  // validates, runs the self-test
  json r = {{"vocab_size", tok.vocab_size()},
            {"num_merges", tok.num_merges()},
            {"hash", tok.hash()},
            {"pretokenizer", c.meta.value("pretokenizer", "")},
            {"self_test", fmt::format("passed ({} samples)", tok.samples().size())}};
  json specials = json::array();
  for (uint32_t i = 0; i < kNumSpecials; ++i) specials.push_back({{"id", i}, {"name", kSpecialNames[i]}});
  r["specials"] = specials;
  json samples = json::array();
  for (size_t i = 0; i < std::min(opts.samples, tok.samples().size()); ++i)
    samples.push_back({{"text", escape_bytes(tok.samples()[i].text, 80)}, {"ids", tok.samples()[i].ids}});
  r["samples"] = samples;
  // The last merges learned and the longest tokens say most about the corpus.
  json last = json::array();
  for (uint32_t id = static_cast<uint32_t>(tok.vocab_size()); id-- > kFirstMergeId && last.size() < 10;)
    last.push_back({{"id", id}, {"text", escape_bytes(tok.token_bytes(id))}});
  r["last_merges"] = last;
  std::vector<uint32_t> ids(tok.vocab_size() - kFirstMergeId);
  std::iota(ids.begin(), ids.end(), kFirstMergeId);
  const size_t n = std::min<size_t>(10, ids.size());
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end(), [&](uint32_t a, uint32_t b) {
    const size_t la = tok.token_bytes(a).size(), lb = tok.token_bytes(b).size();
    return la != lb ? la > lb : a < b;
  });
  json longest = json::array();
  for (size_t i = 0; i < n; ++i) longest.push_back({{"id", ids[i]}, {"text", escape_bytes(tok.token_bytes(ids[i]))}});
  r["longest_tokens"] = longest;
  return r;
}

}  // namespace

namespace {

// A safetensors file starts with its header length and then '{'; an .mds
// file with the skippable-frame magic. Only regular files are sniffed (a
// pipe cannot be read twice).
bool looks_like_safetensors(const std::string& path) {
  if (path == "-") return false;
  InputFile in(path);
  uint8_t head[9];
  size_t got = 0;
  while (got < sizeof head) {
    const size_t n = in.read(head + got, sizeof head - got);
    if (n == 0) break;
    got += n;
  }
  return got == sizeof head && head[8] == '{' && !(head[0] == 0x5E && head[1] == 0x2A && head[2] == 0x4D);
}

// Tensors (name, dtype, shape, bytes) and metadata of a safetensors file;
// metadata values longer than 200 bytes (the config, the tokenizer) are
// shown by their length in the text rendering only.
json safetensors_report(const std::string& path) {
  const SafeTensorsFile f = read_safetensors(path);
  json tensors = json::array();
  uint64_t bytes = 0, elements = 0;
  for (const SafeTensor& t : f.tensors) {
    tensors.push_back({{"name", t.name}, {"dtype", safetensors_dtype_name(t.dtype)}, {"shape", t.shape},
                       {"bytes", t.data.size()}});
    bytes += t.data.size();
    elements += t.data.size() / dtype_size(t.dtype);
  }
  json meta = json::object();
  for (const auto& [k, v] : f.metadata) meta[k] = v;
  return {{"file", f.source}, {"kind", "safetensors"}, {"tensor_count", f.tensors.size()},
          {"elements", elements}, {"data_bytes", bytes}, {"metadata", meta}, {"tensors", tensors}};
}

}  // namespace

json inspect_file(const std::string& path, const InspectOptions& opts) {
  if (looks_like_safetensors(path)) return safetensors_report(path);
  ContainerReader reader(path);
  std::vector<Container> units;
  std::vector<uint64_t> offsets;
  for (;;) {
    const uint64_t off = reader.offset();
    Container c;
    if (!reader.next(c)) break;
    units.push_back(std::move(c));
    offsets.push_back(off);
  }
  json report = {{"file", reader.display_name()}, {"bytes", reader.offset()}, {"unit_count", units.size()}};
  std::unique_ptr<Tokenizer> tok;
  if (!opts.tokenizer.empty()) tok = std::make_unique<Tokenizer>(Tokenizer::load(opts.tokenizer));
  const bool all_shards = std::all_of(units.begin(), units.end(),
                                      [](const Container& c) { return c.kind == "shard" || c.kind == kShardEndKind; });
  if (all_shards) {
    // A shard is one logical object: show the first unit's header and the totals.
    report["kind"] = "shard";
    report["header"] = unit_header(units[0], offsets[0]);
    report["meta"] = units[0].meta;
    report["sections"] = section_table(units[0]);
    report["shard"] = shard_report(units, offsets, reader.offset(), reader.display_name(), opts, tok.get());
    return report;
  }
  report["kind"] = units[0].kind;
  json list = json::array();
  for (size_t k = 0; k < units.size(); ++k) {
    json u = {{"header", unit_header(units[k], offsets[k])},
              {"meta", units[k].meta},
              {"sections", section_table(units[k])}};
    if (units[k].kind == "tokenizer") u["tokenizer"] = tokenizer_report(units[k], opts);
    list.push_back(u);
  }
  report["units"] = list;
  return report;
}

namespace {

std::string text_sections(const json& sections) {
  std::string out = fmt::format("  {:<28} {:<5} {:<20} {:>12}\n", "section", "dtype", "shape", "bytes");
  for (const json& s : sections) {
    std::string shape = "[";
    for (size_t i = 0; i < s["shape"].size(); ++i) shape += (i ? ", " : "") + std::to_string(s["shape"][i].get<int64_t>());
    shape += "]";
    out += fmt::format("  {:<28} {:<5} {:<20} {:>12}\n", s["name"].get<std::string>(), s["dtype"].get<std::string>(),
                       shape, s["bytes"].get<uint64_t>());
  }
  return out;
}

std::string indent(const std::string& text, const std::string& pad) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    out += pad + text.substr(start, nl - start) + "\n";
    start = nl + 1;
  }
  return out;
}

std::string text_lengths(const char* label, const json& s) {
  if (s["count"].get<uint64_t>() == 0) return fmt::format("{}: no records\n", label);
  std::string out = fmt::format("{}: min {} mean {:.1f} p50 {} p90 {} p99 {} max {}\n", label, s["min"].get<uint64_t>(),
                                s["mean"].get<double>(), s["p50"].get<uint64_t>(), s["p90"].get<uint64_t>(),
                                s["p99"].get<uint64_t>(), s["max"].get<uint64_t>());
  uint64_t peak = 1;
  for (const json& b : s["histogram"]) peak = std::max(peak, b["count"].get<uint64_t>());
  for (const json& b : s["histogram"]) {
    const uint64_t c = b["count"].get<uint64_t>();
    out += fmt::format("  [{:>6}, {:>6}) {:>9} {}\n", b["lo"].get<uint64_t>(), b["hi"].get<uint64_t>(), c,
                       std::string(static_cast<size_t>((c * 40 + peak - 1) / peak), '#'));
  }
  return out;
}

std::string value_text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

}  // namespace

std::string render_inspect_text(const json& r) {
  if (r.value("kind", std::string()) == "safetensors") {
    std::string out = fmt::format("file: {} (safetensors, {} tensors, {} elements, {} data bytes)\nmetadata:\n",
                                  r["file"].get<std::string>(), r["tensor_count"].get<uint64_t>(),
                                  r["elements"].get<uint64_t>(), r["data_bytes"].get<uint64_t>());
    for (auto it = r["metadata"].begin(); it != r["metadata"].end(); ++it) {
      const std::string v = it.value().get<std::string>();
      out += fmt::format("  {}: {}\n", it.key(), v.size() <= 200 ? v : fmt::format("({} bytes of JSON)", v.size()));
    }
    json sections = json::array();
    for (const json& t : r["tensors"])
      sections.push_back({{"name", t["name"]}, {"dtype", t["dtype"]}, {"shape", t["shape"]}, {"bytes", t["bytes"]}});
    return out + "tensors:\n" + text_sections(sections);
  }
  std::string out = fmt::format("file: {} ({} bytes, {} unit{})\n", r["file"].get<std::string>(),
                                r["bytes"].get<uint64_t>(), r["unit_count"].get<uint64_t>(),
                                r["unit_count"].get<uint64_t>() == 1 ? "" : "s");
  if (r.contains("shard")) {
    const json& s = r["shard"];
    out += fmt::format("kind: shard, format version {}\n", r["header"]["format_version"].get<int>());
    out += "first unit meta:\n" + indent(r["meta"].dump(2), "  ");
    out += "first unit sections:\n" + text_sections(r["sections"]);
    out += fmt::format("records: {} in {} unit{}\n", s["records"].get<uint64_t>(), s["units"].get<uint64_t>(),
                       s["units"].get<uint64_t>() == 1 ? "" : "s");
    const uint64_t ends = s["end_units"].get<uint64_t>();
    out += ends ? fmt::format("end units: {} (counts checked: the file is whole)\n", ends)
                : std::string("end units: none (a format 1 shard: a cut after one of its units cannot be seen)\n");
    out += fmt::format("tokenizer: {} (vocabulary {})\n", value_text(s["tokenizer_hash"]), s["vocab_size"].get<uint64_t>());
    out += fmt::format("limits: max_src_len {}, max_trg_len {} (0 = none), truncate {}\n", value_text(s["max_src_len"]),
                       value_text(s["max_trg_len"]), value_text(s["truncate"]));
    out += fmt::format("truncated records: src {}, trg {}\n", s["truncated_src"].get<uint64_t>(),
                       s["truncated_trg"].get<uint64_t>());
    out += fmt::format("tokens: src {}, trg {}, distinct {}\n", s["src_tokens"].get<uint64_t>(),
                       s["trg_tokens"].get<uint64_t>(), s["distinct_tokens"].get<uint64_t>());
    out += text_lengths("src length", s["src_length"]);
    out += text_lengths("trg length", s["trg_length"]);
    if (s.contains("tokenizer") && s["tokenizer"].contains("warning"))
      out += "warning: " + s["tokenizer"]["warning"].get<std::string>() + "\n";
    out += "most frequent tokens (src + trg):\n";
    out += fmt::format("  {:>4} {:>7} {:>12} {:>7}  {}\n", "rank", "id", "count", "share", "text");
    size_t rank = 1;
    for (const json& t : s["top_tokens"])
      out += fmt::format("  {:>4} {:>7} {:>12} {:>6.2f}%  {}\n", rank++, t["id"].get<uint32_t>(),
                         t["count"].get<uint64_t>(), 100 * t["share"].get<double>(),
                         t.contains("text") ? "\"" + t["text"].get<std::string>() + "\"" : "");
    return out;
  }
  for (const json& u : r["units"]) {
    const json& h = u["header"];
    out += fmt::format("unit at offset {}: kind {}, format version {}\n", h["offset"].get<uint64_t>(),
                       h["kind"].get<std::string>(), h["format_version"].get<int>());
    out += "meta:\n" + indent(u["meta"].dump(2), "  ");
    out += "sections:\n" + text_sections(u["sections"]);
    if (!u.contains("tokenizer")) continue;
    const json& t = u["tokenizer"];
    out += fmt::format("tokenizer: byte-level BPE, vocabulary {} (4 specials, 256 bytes, {} merges)\n",
                       t["vocab_size"].get<uint64_t>(), t["num_merges"].get<uint64_t>());
    out += "specials:";
    for (const json& sp : t["specials"])
      out += fmt::format(" {}={}", sp["id"].get<uint32_t>(), sp["name"].get<std::string>());
    out += fmt::format("\nhash: {}\npre-tokenizer: {}\nself-test: {}\n", t["hash"].get<std::string>(),
                       t["pretokenizer"].get<std::string>(), t["self_test"].get<std::string>());
    out += "samples:\n";
    for (const json& s : t["samples"])
      out += fmt::format("  \"{}\" -> {}\n", s["text"].get<std::string>(),
                         format_ids(s["ids"].get<std::vector<uint32_t>>(), 12));
    out += "last merges:";
    for (const json& m : t["last_merges"]) out += fmt::format(" {}=\"{}\"", m["id"].get<uint32_t>(), m["text"].get<std::string>());
    out += "\nlongest tokens:";
    for (const json& m : t["longest_tokens"])
      out += fmt::format(" {}=\"{}\"", m["id"].get<uint32_t>(), m["text"].get<std::string>());
    out += "\n";
  }
  return out;
}

}  // namespace mds
