// pack_batch, batch checks and the global-token pattern of a batch.
#include "model/batch.h"

#include <algorithm>

#include "core/error.h"

namespace mds {

int packed_length(int src_len, const ModelConfig& config) { return src_len + 2 + config.max_trg_len + 1; }

Batch pack_batch(const std::vector<PairIds>& records, const ModelConfig& config,
                 const std::vector<uint64_t>& example_ids) {
  if (records.size() != example_ids.size())
    throw_runtime("pack_batch: {} records but {} example ids", records.size(), example_ids.size());
  if (records.empty()) throw_runtime("pack_batch: empty batch");
  Batch b;
  b.batch_size = static_cast<int>(records.size());
  int L = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    if (static_cast<int>(r.src.size()) > config.max_src_len)
      throw_bad_input("example {}: source has {} tokens, more than max_src_len = {}", example_ids[i], r.src.size(),
                      config.max_src_len);
    if (static_cast<int>(r.trg.size()) > config.max_trg_len)
      throw_bad_input("example {}: target has {} tokens, more than max_trg_len = {}", example_ids[i], r.trg.size(),
                      config.max_trg_len);
    for (const auto* side : {&r.src, &r.trg})
      for (int32_t id : *side)
        if (id < 0 || (config.vocab_size > 0 && id >= config.vocab_size))
          throw_bad_input("example {}: token id {} outside the vocabulary [0, {})", example_ids[i], id,
                          config.vocab_size);
    L = std::max(L, packed_length(static_cast<int>(r.src.size()), config));
  }
  b.seq_len = L;
  const size_t N = size_t(b.batch_size) * L;
  b.tokens.assign(N, kPadId);
  b.target_mask.assign(N, 0);
  b.valid.assign(N, 0);
  b.lengths.resize(b.batch_size);
  b.example_ids = example_ids;
  for (int e = 0; e < b.batch_size; ++e) {
    const auto& r = records[e];
    int32_t* tok = b.tokens.data() + size_t(e) * L;
    const int S = static_cast<int>(r.src.size());
    const int len = packed_length(S, config);
    tok[0] = kClsId;
    std::copy(r.src.begin(), r.src.end(), tok + 1);
    tok[S + 1] = kSepId;
    std::copy(r.trg.begin(), r.trg.end(), tok + S + 2);
    tok[S + 2 + r.trg.size()] = kSepId;  // the rest of the region stays [PAD]
    for (int l = 0; l < len; ++l) b.valid[size_t(e) * L + l] = 1;
    for (int l = S + 2; l < len; ++l) b.target_mask[size_t(e) * L + l] = 1;
    b.lengths[e] = len;
  }
  return b;
}

int target_start(const Batch& batch, int b) {
  const uint8_t* tm = batch.target_mask.data() + size_t(b) * batch.seq_len;
  for (int l = 0; l < batch.seq_len; ++l)
    if (tm[l]) return l;
  return batch.lengths[b];
}

void check_batch(const Batch& b, const ModelConfig& config) {
  const size_t N = size_t(b.batch_size) * b.seq_len;
  if (b.batch_size < 1 || b.seq_len < 1) throw_bad_input("batch: empty (B = {}, L = {})", b.batch_size, b.seq_len);
  if (b.tokens.size() != N || b.target_mask.size() != N || b.valid.size() != N)
    throw_bad_input("batch: tokens/target_mask/valid must have B*L = {} entries, found {}/{}/{}", N, b.tokens.size(),
                    b.target_mask.size(), b.valid.size());
  if (b.lengths.size() != size_t(b.batch_size) || b.example_ids.size() != size_t(b.batch_size))
    throw_bad_input("batch: lengths and example_ids must have B = {} entries", b.batch_size);
  if (b.seq_len > config.positions())
    throw_bad_input("batch: L = {} exceeds the model's {} positions", b.seq_len, config.positions());
  for (size_t i = 0; i < N; ++i)
    if (b.tokens[i] < 0 || (config.vocab_size > 0 && b.tokens[i] >= config.vocab_size))
      throw_bad_input("batch: token {} at flat position {} is outside [0, {})", b.tokens[i], i, config.vocab_size);
  for (int e = 0; e < b.batch_size; ++e) {
    if (b.lengths[e] < 1 || b.lengths[e] > b.seq_len)
      throw_bad_input("batch: example {} has length {} outside [1, {}]", e, b.lengths[e], b.seq_len);
    for (int l = 0; l < b.seq_len; ++l)
      if (b.valid[size_t(e) * b.seq_len + l] != (l < b.lengths[e] ? 1 : 0))
        throw_bad_input("batch: example {} valid mask disagrees with its length {} at {}", e, b.lengths[e], l);
  }
}

std::vector<std::vector<int32_t>> global_positions(const Batch& batch, const ModelConfig& config) {
  std::vector<std::vector<int32_t>> g(batch.batch_size);
  for (int b = 0; b < batch.batch_size; ++b) {
    const int start = target_start(batch, b), len = batch.lengths[b];
    std::vector<int32_t>& v = g[b];
    v.push_back(0);  // [CLS]
    if (config.global_source_stride > 0)
      for (int l = config.global_source_stride; l < start - 1; l += config.global_source_stride) v.push_back(l);
    if (start - 1 > 0) v.push_back(start - 1);  // the source [SEP]
    if (config.global_target)
      for (int l = start; l < len; ++l) v.push_back(l);
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
  }
  return g;
}

AttentionPattern make_attention_pattern(Backend& backend, const Batch& batch, const ModelConfig& config) {
  const auto g = global_positions(batch, config);
  AttentionPattern p;
  p.max_globals = 0;
  for (const auto& v : g) p.max_globals = std::max<int>(p.max_globals, static_cast<int>(v.size()));
  const int B = batch.batch_size, L = batch.seq_len;
  std::vector<uint8_t> is_global(size_t(B) * L, 0);
  std::vector<int32_t> pos(size_t(B) * p.max_globals, -1), count(B);
  for (int b = 0; b < B; ++b) {
    count[b] = static_cast<int32_t>(g[b].size());
    for (size_t i = 0; i < g[b].size(); ++i) {
      is_global[size_t(b) * L + g[b][i]] = 1;
      pos[size_t(b) * p.max_globals + i] = g[b][i];
    }
  }
  p.valid = backend.alloc({int64_t(B) * L}, ElemType::u8);
  backend.upload(p.valid, batch.valid.data());
  p.is_global = backend.alloc({int64_t(B) * L}, ElemType::u8);
  backend.upload(p.is_global, is_global.data());
  p.global_pos = backend.alloc({int64_t(B) * p.max_globals}, ElemType::i32);
  if (!pos.empty()) backend.upload(p.global_pos, pos.data());
  p.global_count = backend.alloc({B}, ElemType::i32);
  backend.upload(p.global_count, count.data());
  return p;
}

}  // namespace mds
