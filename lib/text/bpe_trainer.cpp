// Incremental BPE training (bpe_trainer.h). State: every distinct word as a
// symbol array with its frequency; for every adjacent pair its total count and
// the list of words it occurs in; a max-heap of (count, pair) with lazy
// invalidation (a popped entry whose count is stale is re-pushed with the
// current count; counts of existing pairs only ever decrease, and every new
// pair contains the newly created token, so the first fresh entry is the max).
#include "text/bpe_trainer.h"

#include <algorithm>
#include <queue>

#include "core/error.h"
#include "text/flat_map.h"

namespace mds {

namespace {

struct HeapEntry {
  int64_t count;
  uint64_t key;
  // Max-heap on count; on ties the smaller pair key wins.
  bool operator<(const HeapEntry& o) const { return count != o.count ? count < o.count : key > o.key; }
};

struct PairStats {
  int64_t count = 0;
  std::vector<uint32_t> words;  // may hold stale or repeated entries
};

class Trainer {
 public:
  explicit Trainer(const WordCounts& wc) {
    word_off_.reserve(wc.unique() + 1);
    wc.for_each([&](std::string_view w, uint64_t count) {
      word_off_.push_back(syms_.size());
      word_len_.push_back(static_cast<uint32_t>(w.size()));
      word_count_.push_back(static_cast<int64_t>(count));
      for (unsigned char ch : w) syms_.push_back(kFirstByteId + ch);
    });
    for (uint32_t w = 0; w < word_len_.size(); ++w) {
      const uint32_t* s = &syms_[word_off_[w]];
      for (uint32_t i = 0; i + 1 < word_len_[w]; ++i) add_pair(FlatU64Map::pack(s[i], s[i + 1]), word_count_[w], w);
    }
    std::vector<HeapEntry> entries;
    entries.reserve(pairs_.size());
    for (size_t i = 0; i < pairs_.size(); ++i)
      if (pairs_[i].count > 0) entries.push_back({pairs_[i].count, keys_[i]});
    heap_ = std::priority_queue<HeapEntry>(std::less<HeapEntry>(), std::move(entries));
    seen_.assign(word_len_.size(), ~uint32_t{0});
  }

  std::vector<Merge> run(const BpeTrainOptions& opts, BpeTrainStats& stats) {
    const size_t wanted = opts.vocab_size > kFirstMergeId ? opts.vocab_size - kFirstMergeId : 0;
    std::vector<Merge> merges;
    merges.reserve(std::min<size_t>(wanted, size_t{1} << 20));  // a huge request must not allocate up front
    stats.stop_reason = "vocab_size";
    while (merges.size() < wanted) {
      if (heap_.empty()) {
        stats.stop_reason = "no_pairs";
        break;
      }
      HeapEntry top = heap_.top();
      heap_.pop();
      const uint32_t slot = index_.find(top.key);
      const int64_t current = pairs_[slot].count;
      if (current != top.count) {
        if (current > 0) heap_.push({current, top.key});
        continue;
      }
      if (current < static_cast<int64_t>(std::max<uint64_t>(opts.min_frequency, 1))) {
        stats.stop_reason = "min_frequency";
        break;
      }
      const uint32_t a = static_cast<uint32_t>(top.key >> 32), b = static_cast<uint32_t>(top.key);
      const uint32_t merged = kFirstMergeId + static_cast<uint32_t>(merges.size());
      merges.push_back({a, b});
      stats.last_merge_count = static_cast<uint64_t>(current);
      apply_merge(slot, a, b, merged, static_cast<uint32_t>(merges.size() - 1));
      if (opts.progress && (merges.size() % 256 == 0 || merges.size() == wanted)) opts.progress(merges.size(), wanted);
    }
    stats.merges = merges.size();
    return merges;
  }

 private:
  uint32_t slot_of(uint64_t key) {
    uint32_t& idx = index_.find_or_insert(key, static_cast<uint32_t>(pairs_.size()));
    if (idx == pairs_.size()) {
      pairs_.emplace_back();
      keys_.push_back(key);
      touched_.push_back(~uint32_t{0});
    }
    return idx;
  }

  void add_pair(uint64_t key, int64_t count, uint32_t word) {
    const uint32_t slot = slot_of(key);
    PairStats& p = pairs_[slot];
    p.count += count;
    if (p.words.empty() || p.words.back() != word) p.words.push_back(word);
  }

  // Replaces every (a, b) by `merged` in the words listed for the pair and
  // updates the counts of the pairs around each occurrence.
  void apply_merge(uint32_t slot, uint32_t a, uint32_t b, uint32_t merged, uint32_t merge_index) {
    const uint64_t ab = FlatU64Map::pack(a, b);
    std::vector<uint32_t> words = std::move(pairs_[slot].words);
    pairs_[slot].words = {};
    pairs_[slot].count = 0;
    std::vector<uint32_t> new_slots;
    for (uint32_t w : words) {
      if (seen_[w] == merge_index) continue;
      seen_[w] = merge_index;
      uint32_t* s = &syms_[word_off_[w]];
      const uint32_t len = word_len_[w];
      const int64_t wc = word_count_[w];
      // mark_: 1 = first symbol of an occurrence, 2 = its second symbol.
      mark_.assign(len, 0);
      bool any = false;
      for (uint32_t i = 0; i + 1 < len;) {
        if (s[i] == a && s[i + 1] == b) {
          mark_[i] = 1;
          mark_[i + 1] = 2;
          any = true;
          i += 2;
        } else {
          ++i;
        }
      }
      if (!any) continue;  // stale entry: an earlier merge consumed the pair
      // Old pairs overlapping an occurrence disappear.
      for (uint32_t i = 0; i + 1 < len; ++i) {
        if (!mark_[i] && !mark_[i + 1]) continue;
        const uint64_t key = FlatU64Map::pack(s[i], s[i + 1]);
        if (key != ab) pairs_[index_.find(key)].count -= wc;
      }
      uint32_t n = 0;
      for (uint32_t i = 0; i < len;) {
        if (mark_[i] == 1) {
          s[n++] = merged;
          i += 2;
        } else {
          s[n++] = s[i++];
        }
      }
      word_len_[w] = n;
      // New pairs are exactly those containing the merged token.
      for (uint32_t j = 0; j + 1 < n; ++j) {
        if (s[j] != merged && s[j + 1] != merged) continue;
        const uint64_t key = FlatU64Map::pack(s[j], s[j + 1]);
        add_pair(key, wc, w);
        const uint32_t ns = index_.find(key);
        if (touched_[ns] != merge_index) {
          touched_[ns] = merge_index;
          new_slots.push_back(ns);
        }
      }
    }
    for (uint32_t ns : new_slots)
      if (pairs_[ns].count > 0) heap_.push({pairs_[ns].count, keys_[ns]});
  }

  std::vector<uint32_t> syms_;
  std::vector<uint64_t> word_off_;
  std::vector<uint32_t> word_len_;
  std::vector<int64_t> word_count_;
  FlatU64Map index_{1 << 16};
  std::vector<PairStats> pairs_;
  std::vector<uint64_t> keys_;
  std::vector<uint32_t> touched_;  // last merge that queued this pair
  std::vector<uint32_t> seen_;     // last merge that processed this word
  std::vector<uint8_t> mark_;
  std::priority_queue<HeapEntry> heap_;
};

}  // namespace

Tokenizer train_bpe(const WordCounts& words, const BpeTrainOptions& opts, BpeTrainStats* stats) {
  if (opts.vocab_size < kFirstMergeId)
    throw_usage("vocabulary size {} is too small: it must be at least {} (4 specials + 256 bytes)", opts.vocab_size,
                kFirstMergeId);
  BpeTrainStats local;
  BpeTrainStats& st = stats ? *stats : local;
  st.unique_words = words.unique();
  st.total_words = words.total();
  Trainer trainer(words);
  std::vector<Merge> merges = trainer.run(opts, st);
  return Tokenizer::from_merges(std::move(merges), "<training>");
}

}  // namespace mds
