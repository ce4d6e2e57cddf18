// Parallel corpus counting for BPE training (train_corpus.h). Lines are read
// in batches on the calling thread; batches are parsed and pre-tokenized on
// worker threads, each into its own WordCounts, merged at the end. Malformed
// lines are reported in input order, as a serial reader would.
#include "text/train_corpus.h"

#include <chrono>
#include <utility>

#include "core/error.h"
#include "text/corpus.h"
#include "core/parallel.h"

namespace mds {

namespace {

struct BatchResult {
  std::vector<std::pair<uint64_t, std::string>> bad;  // (line, message)
  std::vector<std::string> samples;
  uint64_t texts = 0, bytes = 0;
};

constexpr size_t kSampleBytes = 256;

}  // namespace

std::vector<std::string> builtin_sample_texts() {
  static const char kBytes[] = "bytes: \x00\x01\xFF\xFE \xC3( \xED\xA0\x80 end";
  return {
      "Hello, world! It's 2024: we've got 3.14159 reasons (and 42 more).",
      "[PAD] [CLS] [SEP] [MASK] are ordinary text here.",
      "  indented\tline\r\nnext   line  \n\n",
      std::string("na\xC3\xAFve caf\xC3\xA9 \xE2\x80\x94 \xE6\x9D\xB1\xE4\xBA\xAC \xF0\x9F\x98\x80 \xC2\xB1"),
      std::string(kBytes, sizeof(kBytes) - 1),
  };
}

WordCounts count_corpus_words(const std::vector<std::string>& inputs, const CorpusOptions& opts, CorpusStats* stats,
                              std::vector<std::string>* samples, size_t sample_count) {
  const int threads = resolve_threads(opts.threads);
  std::vector<WordCounts> counts(static_cast<size_t>(threads));
  CorpusStats local;
  CorpusStats& st = stats ? *stats : local;
  for (const std::string& path : inputs) {
    const InputFormat format = resolve_input_format(opts.format, path);
    run_ordered<BatchResult>(
        path, threads,
        [&](const LineBatch& b, BatchResult& r, int thread) {
          WordCounts& wc = counts[static_cast<size_t>(thread)];
          auto take = [&](std::string_view text) {
            wc.add_text(text);
            ++r.texts;
            r.bytes += text.size();
            if (r.samples.size() < sample_count && !text.empty()) r.samples.emplace_back(text.substr(0, kSampleBytes));
          };
          std::vector<std::string> fields;
          std::string error;
          for (size_t k = 0; k < b.lines.size(); ++k) {
            if (format == InputFormat::text) {
              take(b.lines[k]);
              continue;
            }
            LineStatus s = parse_jsonl_fields(b.lines[k], opts.fields, fields, &error);
            if (s == LineStatus::bad) {
              r.bad.emplace_back(b.first_line + k, error);
              if (!opts.skip_bad) break;  // the first error ends the run anyway
            } else if (s == LineStatus::ok) {
              for (const std::string& f : fields) take(f);
            }
          }
        },
        [&](const LineBatch& b, const BatchResult& r) {
          if (!r.bad.empty() && !opts.skip_bad) throw_bad_input("{}:{}: {}", b.source, r.bad.front().first, r.bad.front().second);
          st.skipped += r.bad.size();
          st.lines += b.lines.size();
          st.texts += r.texts;
          st.bytes += r.bytes;
          if (samples)
            for (const std::string& s : r.samples)
              if (samples->size() < sample_count) samples->push_back(s);
        });
  }
  for (size_t t = 1; t < counts.size(); ++t) {
    counts[0].merge_from(counts[t]);
    counts[t] = WordCounts();
  }
  return std::move(counts[0]);
}

TokenizerTrainResult train_tokenizer(const std::vector<std::string>& inputs, const TokenizerTrainOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  TokenizerTrainResult r;
  std::vector<std::string> samples;
  WordCounts words = count_corpus_words(inputs, opt.corpus, &r.corpus, &samples, opt.samples);
  r.count_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.tokenizer = train_bpe(words, opt.bpe, &r.bpe);
  std::vector<std::string> texts = builtin_sample_texts();
  texts.insert(texts.end(), samples.begin(), samples.end());
  r.tokenizer.set_samples(texts);
  r.tokenizer.training_info() = {{"vocab_size_requested", opt.bpe.vocab_size},
                                 {"min_frequency", opt.bpe.min_frequency},
                                 {"inputs", inputs},
                                 {"fields", opt.corpus.fields},
                                 {"lines", r.corpus.lines},
                                 {"texts", r.corpus.texts},
                                 {"bytes", r.corpus.bytes},
                                 {"skipped_lines", r.corpus.skipped},
                                 {"unique_words", r.bpe.unique_words},
                                 {"total_words", r.bpe.total_words},
                                 {"stop_reason", r.bpe.stop_reason},
                                 {"last_merge_count", r.bpe.last_merge_count},
                                 {"mds_version", MDS_VERSION}};
  return r;
}

}  // namespace mds
