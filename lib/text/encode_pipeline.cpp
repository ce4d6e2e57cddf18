// Bulk encode/decode jobs (encode_pipeline.h). Each input is cut into line
// batches; a wave of batches is processed in parallel (one CachingEncoder per
// thread), then the results are written in input order.
#include "text/encode_pipeline.h"

#include <charconv>
#include <memory>

#include "core/error.h"
#include "data/shard.h"
#include "io/jsonl.h"
#include "io/stream.h"
#include "text/corpus.h"
#include "text/encoder_cache.h"
#include "core/parallel.h"

namespace mds {

namespace {

std::vector<std::unique_ptr<CachingEncoder>> make_encoders(const Tokenizer& tok, int threads) {
  std::vector<std::unique_ptr<CachingEncoder>> out;
  for (int t = 0; t < threads; ++t) out.push_back(std::make_unique<CachingEncoder>(tok));
  return out;
}

void append_ids_line(const std::vector<uint32_t>& ids, std::string& out) {
  char buf[16];
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out.push_back(' ');
    auto r = std::to_chars(buf, buf + sizeof buf, ids[i]);
    out.append(buf, r.ptr);
  }
  out.push_back('\n');
}

// Cuts ids[from..] to `limit` ids under the policy. Returns true if cut.
bool truncate_tail(std::vector<uint32_t>& ids, size_t from, uint64_t limit, TruncatePolicy p) {
  const size_t n = ids.size() - from;
  if (limit == 0 || n <= limit) return false;
  if (p == TruncatePolicy::start)
    ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(from),
              ids.begin() + static_cast<std::ptrdiff_t>(from + (n - limit)));
  else
    ids.resize(from + limit);
  return true;
}

struct PairBatch {
  std::vector<uint32_t> src, trg;
  std::vector<uint64_t> src_len, trg_len;
  std::vector<uint8_t> truncated;  // bit 0 src, bit 1 trg
  std::vector<std::pair<uint64_t, std::string>> bad;
  uint64_t bytes = 0;
};

constexpr size_t kMaxSkippedExamples = 5;

}  // namespace

TruncatePolicy parse_truncate_policy(const std::string& name) {
  if (name == "end") return TruncatePolicy::end;
  if (name == "start") return TruncatePolicy::start;
  if (name == "error") return TruncatePolicy::error;
  throw_usage("unknown truncation policy \"{}\": expected end, start or error", name);
}

const char* truncate_policy_name(TruncatePolicy p) {
  switch (p) {
    case TruncatePolicy::end: return "end";
    case TruncatePolicy::start: return "start";
    case TruncatePolicy::error: return "error";
  }
  return "?";
}

EncodeStats encode_pairs_to_shard(const Tokenizer& tok, const std::vector<std::string>& inputs,
                                  const std::string& output, const EncodeOptions& opts) {
  const int threads = resolve_threads(opts.threads);
  auto encoders = make_encoders(tok, threads);
  const std::vector<std::string> fields{opts.src_field, opts.trg_field};
  ShardInfo info{tok.vocab_size(), tok.hash(), opts.max_src_len, opts.max_trg_len, truncate_policy_name(opts.truncate)};
  // With several threads, compress finished units beside the encoding.
  ShardWriter writer(output, info, opts.records_per_unit, ShardWriter::kIdsPerUnit, threads > 1);
  EncodeStats st;
  for (const std::string& path : inputs) {
    run_ordered<PairBatch>(
        path, threads,
        [&](const LineBatch& b, PairBatch& r, int thread) {
          CachingEncoder& enc = *encoders[static_cast<size_t>(thread)];
          std::vector<std::string> f;
          std::string err;
          for (size_t k = 0; k < b.lines.size(); ++k) {
            const uint64_t line_no = b.first_line + k;
            const LineStatus s = parse_jsonl_fields(b.lines[k], fields, f, &err);
            if (s == LineStatus::blank) continue;
            if (s == LineStatus::bad) {
              r.bad.emplace_back(line_no, err);
              if (!opts.skip_bad) break;
              continue;
            }
            const size_t s0 = r.src.size(), t0 = r.trg.size();
            enc.encode_append(f[0], r.src);
            enc.encode_append(f[1], r.trg);
            const uint64_t ns = r.src.size() - s0, nt = r.trg.size() - t0;
            if (opts.truncate == TruncatePolicy::error &&
                ((opts.max_src_len && ns > opts.max_src_len) || (opts.max_trg_len && nt > opts.max_trg_len))) {
              const bool src_long = opts.max_src_len && ns > opts.max_src_len;
              r.bad.emplace_back(line_no, fmt::format("field \"{}\" has {} tokens, more than the limit {} "
                                                      "(--truncate error)",
                                                      src_long ? opts.src_field : opts.trg_field, src_long ? ns : nt,
                                                      src_long ? opts.max_src_len : opts.max_trg_len));
              r.src.resize(s0);
              r.trg.resize(t0);
              if (!opts.skip_bad) break;
              continue;
            }
            const bool cut_trg = truncate_tail(r.trg, t0, opts.max_trg_len, opts.truncate);
            const bool cut_src = truncate_tail(r.src, s0, opts.max_src_len, opts.truncate);
            r.src_len.push_back(r.src.size() - s0);
            r.trg_len.push_back(r.trg.size() - t0);
            r.truncated.push_back(static_cast<uint8_t>((cut_src ? 1 : 0) | (cut_trg ? 2 : 0)));
            r.bytes += f[0].size() + f[1].size();
          }
        },
        [&](const LineBatch& b, PairBatch& r) {
          if (!r.bad.empty()) {
            if (!opts.skip_bad) throw_bad_input("{}:{}: {}", b.source, r.bad.front().first, r.bad.front().second);
            for (const auto& [line, msg] : r.bad) {
              if (st.skipped_examples.size() < kMaxSkippedExamples)
                st.skipped_examples.push_back(fmt::format("{}:{}: {}", b.source, line, msg));
              ++st.skipped;
            }
          }
          st.lines += b.lines.size();
          size_t so = 0, to = 0;
          for (size_t i = 0; i < r.src_len.size(); ++i) {
            writer.add(r.src.data() + so, r.src_len[i], r.trg.data() + to, r.trg_len[i], r.truncated[i] & 1,
                       (r.truncated[i] & 2) != 0);
            so += r.src_len[i];
            to += r.trg_len[i];
            st.truncated_src += r.truncated[i] & 1;
            st.truncated_trg += (r.truncated[i] >> 1) & 1;
          }
          st.records += r.src_len.size();
          st.src_tokens += so;
          st.trg_tokens += to;
          st.bytes += r.bytes;
        });
  }
  writer.finish();
  return st;
}

EncodeStats encode_lines_to_ids(const Tokenizer& tok, const std::vector<std::string>& inputs,
                                const std::string& output, int threads_requested) {
  const int threads = resolve_threads(threads_requested);
  auto encoders = make_encoders(tok, threads);
  OutputFile out(output);
  EncodeStats st;
  struct TextBatch {
    std::string text;
    uint64_t tokens = 0;
  };
  for (const std::string& path : inputs) {
    run_ordered<TextBatch>(
        path, threads,
        [&](const LineBatch& b, TextBatch& r, int thread) {
          CachingEncoder& enc = *encoders[static_cast<size_t>(thread)];
          std::vector<uint32_t> ids;
          r.text.reserve(b.bytes + b.lines.size());
          for (const std::string& line : b.lines) {
            ids.clear();
            enc.encode_append(line, ids);
            append_ids_line(ids, r.text);
            r.tokens += ids.size();
          }
        },
        [&](const LineBatch& b, TextBatch& r) {
          out.write(r.text);
          st.lines += b.lines.size();
          st.records += b.lines.size();
          st.src_tokens += r.tokens;
          st.bytes += b.bytes;
        });
  }
  out.commit();
  return st;
}

DecodeStats decode_shard_to_jsonl(const Tokenizer& tok, const std::vector<std::string>& inputs,
                                  const std::string& output, bool skip_special, int threads_requested) {
  const int threads = resolve_threads(threads_requested);
  ShardReader reader(inputs);
  OutputFile out(output);
  DecodeStats st;
  ShardUnit unit;
  constexpr size_t kChunk = 256;
  while (reader.next_unit(unit)) {
    if (reader.tokenizer_hash() != tok.hash())
      throw_usage("{}: the shard was encoded with tokenizer {} but the given tokenizer is {}; pass the tokenizer "
                  "the shard was made with",
                  reader.where(), reader.tokenizer_hash(), tok.hash());
    const size_t chunks = (unit.size() + kChunk - 1) / kChunk;
    std::vector<std::string> text(chunks);
    std::vector<uint64_t> invalid(chunks, 0);
    parallel_for(chunks, threads, [&](size_t c, int) {
      std::string src, trg;
      for (size_t i = c * kChunk; i < std::min(unit.size(), (c + 1) * kChunk); ++i) {
        src.clear();
        trg.clear();
        tok.decode_append(unit.src_ids.data() + unit.src_offsets[i], unit.src_offsets[i + 1] - unit.src_offsets[i],
                          src, skip_special);
        tok.decode_append(unit.trg_ids.data() + unit.trg_offsets[i], unit.trg_offsets[i + 1] - unit.trg_offsets[i],
                          trg, skip_special);
        if (!is_valid_utf8(src) || !is_valid_utf8(trg)) ++invalid[c];
        nlohmann::json j{{"src", src}, {"trg", trg}};
        text[c] += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        text[c] += '\n';
      }
    });
    for (size_t c = 0; c < chunks; ++c) {
      out.write(text[c]);
      st.invalid_utf8 += invalid[c];
    }
    st.records += unit.size();
  }
  out.commit();
  return st;
}

DecodeStats decode_id_lines(const Tokenizer& tok, const std::vector<std::string>& inputs, const std::string& output,
                            bool skip_special, int threads_requested) {
  const int threads = resolve_threads(threads_requested);
  OutputFile out(output);
  DecodeStats st;
  struct TextBatch {
    std::string text;
    uint64_t bad_line = 0;
    std::string error;
  };
  const uint64_t vocab = tok.vocab_size();
  for (const std::string& path : inputs) {
    run_ordered<TextBatch>(
        path, threads,
        [&](const LineBatch& b, TextBatch& r, int) {
          std::vector<uint32_t> ids;
          for (size_t k = 0; k < b.lines.size(); ++k) {
            const std::string& line = b.lines[k];
            ids.clear();
            const char* p = line.data();
            const char* end = p + line.size();
            for (;;) {
              while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) ++p;
              if (p == end) break;
              uint64_t v = 0;
              auto [q, ec] = std::from_chars(p, end, v);
              if (ec != std::errc() || (q < end && *q != ' ' && *q != '\t' && *q != '\r')) {
                const char* stop = p;
                while (stop < end && *stop != ' ' && *stop != '\t') ++stop;
                r.bad_line = b.first_line + k;
                r.error = fmt::format("column {}: expected a token id (decimal integer), found \"{}\"",
                                      p - line.data() + 1, std::string(p, std::min<size_t>(stop - p, 40)));
                return;
              }
              if (v >= vocab) {
                r.bad_line = b.first_line + k;
                r.error = fmt::format("column {}: token id {} is out of range (vocabulary size {})",
                                      p - line.data() + 1, v, vocab);
                return;
              }
              ids.push_back(static_cast<uint32_t>(v));
              p = q;
            }
            tok.decode_append(ids.data(), ids.size(), r.text, skip_special);
            r.text.push_back('\n');
          }
        },
        [&](const LineBatch& b, TextBatch& r) {
          if (r.bad_line) throw_bad_input("{}:{}: {}", b.source, r.bad_line, r.error);
          out.write(r.text);
          st.records += b.lines.size();
        });
  }
  out.commit();
  return st;
}

}  // namespace mds
