// Bit-parallel LCS length and rouge-score-compatible backtracking (see lcs.h).
//
// Row vector convention: after processing the first r symbols of the row-side
// sequence, bit j is 0 exactly when T[r][j+1] = T[r][j] + 1, so T[r][j] is the
// number of zero bits among bits 0..j-1. Row 0 is all ones (T = 0).
// Transition (Hyyro): U = V & M; V' = (V + U) | (V & ~M), with carries
// running across words.
#include "metrics/lcs.h"

#include <algorithm>
#include <cmath>

namespace mds {

namespace {

inline size_t zeros_before(const uint64_t* row, size_t j) {
  size_t full = j / 64, ones = 0;
  for (size_t w = 0; w < full; ++w) ones += static_cast<size_t>(__builtin_popcountll(row[w]));
  size_t rest = j % 64;
  if (rest) ones += static_cast<size_t>(__builtin_popcountll(row[full] & ((uint64_t(1) << rest) - 1)));
  return j - ones;
}

}  // namespace

size_t LcsEngine::build_masks(const uint32_t* bits, size_t nbits, size_t alphabet) {
  if (slot_of_.size() < alphabet) {
    slot_of_.resize(alphabet, 0);
    stamp_of_.resize(alphabet, 0);
  }
  if (++stamp_ == 0) {  // wrapped: clear stamps
    std::fill(stamp_of_.begin(), stamp_of_.end(), 0);
    stamp_ = 1;
  }
  words_ = (nbits + 63) / 64;
  uint32_t slots = 0;
  for (size_t j = 0; j < nbits; ++j) {
    uint32_t s = bits[j];
    if (stamp_of_[s] != stamp_) {
      stamp_of_[s] = stamp_;
      slot_of_[s] = ++slots;
    }
  }
  // Precomputed masks cost slots x words (32 MB by default); past that keep positions.
  dense_ = static_cast<uint64_t>(slots) * words_ <= mask_budget_;
  if (dense_) {
    masks_.assign(static_cast<size_t>(slots) * words_, 0);
    for (size_t j = 0; j < nbits; ++j)
      masks_[(slot_of_[bits[j]] - 1) * words_ + j / 64] |= uint64_t(1) << (j % 64);
  } else {
    // Counting sort of positions by slot: slot s (0-based) owns [pos_begin_[s], pos_begin_[s+1]).
    pos_begin_.assign(static_cast<size_t>(slots) + 1, 0);
    for (size_t j = 0; j < nbits; ++j) ++pos_begin_[slot_of_[bits[j]]];  // slot_of_ is s + 1
    for (size_t k = 1; k <= slots; ++k) pos_begin_[k] += pos_begin_[k - 1];
    cursor_.assign(pos_begin_.begin(), pos_begin_.end() - 1);
    positions_.resize(nbits);
    for (size_t j = 0; j < nbits; ++j) positions_[cursor_[slot_of_[bits[j]] - 1]++] = static_cast<uint32_t>(j);
    scratch_.assign(words_, 0);
  }
  return words_;
}

void LcsEngine::step(const uint64_t* in, uint64_t* out, uint32_t sym, size_t words) {
  if (!present(sym)) {  // symbol absent from the bit side: the row does not change
    std::copy(in, in + words, out);
    return;
  }
  const uint32_t slot = slot_of_[sym] - 1;
  const uint64_t* m;
  if (dense_) {
    m = masks_.data() + static_cast<size_t>(slot) * words;
  } else {
    for (uint32_t k = pos_begin_[slot]; k < pos_begin_[slot + 1]; ++k)
      scratch_[positions_[k] / 64] |= uint64_t(1) << (positions_[k] % 64);
    m = scratch_.data();
  }
  unsigned carry = 0;
  for (size_t w = 0; w < words; ++w) {
    uint64_t v = in[w], u = v & m[w];
    uint64_t sum = v + u;
    unsigned c1 = sum < v;
    uint64_t sum2 = sum + carry;
    unsigned c2 = sum2 < sum;
    out[w] = sum2 | (v & ~m[w]);
    carry = c1 | c2;
  }
  if (!dense_)
    for (uint32_t k = pos_begin_[slot]; k < pos_begin_[slot + 1]; ++k) scratch_[positions_[k] / 64] = 0;
}

size_t LcsEngine::length(const uint32_t* a, size_t m, const uint32_t* b, size_t n, size_t alphabet) {
  if (m == 0 || n == 0) return 0;
  // Bits over the shorter sequence: fewer words per row and smaller masks.
  if (n > m) {
    std::swap(a, b);
    std::swap(m, n);
  }
  size_t words = build_masks(b, n, alphabet);
  cur_.assign(words, ~uint64_t(0));
  next_.resize(words);
  for (size_t i = 0; i < m; ++i) {
    if (!present(a[i])) continue;
    step(cur_.data(), next_.data(), a[i], words);
    cur_.swap(next_);
  }
  return zeros_before(cur_.data(), n);
}

void LcsEngine::set_columns(const uint32_t* b, size_t n, size_t alphabet) {
  cols_ = b;
  ncols_ = n;
  build_masks(b, n, alphabet);
}

bool LcsEngine::shares_symbol(const uint32_t* a, size_t m) const {
  for (size_t i = 0; i < m; ++i)
    if (present(a[i])) return true;
  return false;
}

// The common case of a column sequence of at most 64 symbols (ROUGE-Lsum
// sentences): one word per row, all rows kept, the same walk as below.
void LcsEngine::backtrack_one_word(const uint32_t* a, size_t m, std::vector<uint32_t>& out) {
  const uint32_t* b = cols_;
  const size_t n = ncols_;
  rows_.resize(m + 1);
  uint64_t v = ~uint64_t(0);
  rows_[0] = v;
  for (size_t r = 0; r < m; ++r) {
    if (present(a[r])) {
      uint64_t mk = masks_[slot_of_[a[r]] - 1];
      uint64_t u = v & mk;
      v = (v + u) | (v & ~mk);
    }
    rows_[r + 1] = v;
  }
  auto T = [&](size_t i, size_t j) -> size_t {
    uint64_t low = j == 64 ? ~uint64_t(0) : ((uint64_t(1) << j) - 1);
    return j - static_cast<size_t>(__builtin_popcountll(rows_[i] & low));
  };
  size_t i = m, j = n;
  while (i > 0 && j > 0) {
    if (a[i - 1] == b[j - 1]) {
      out.push_back(static_cast<uint32_t>(i - 1));
      --i;
      --j;
    } else if (T(i, j - 1) > T(i - 1, j)) {
      --j;
    } else {
      --i;
    }
  }
  std::reverse(out.begin(), out.end());
}

void LcsEngine::backtrack(const uint32_t* a, size_t m, const uint32_t* b, size_t n, size_t alphabet,
                          std::vector<uint32_t>& out) {
  set_columns(b, n, alphabet);
  backtrack_rows(a, m, out);
}

void LcsEngine::backtrack_rows(const uint32_t* a, size_t m, std::vector<uint32_t>& out) {
  out.clear();
  const uint32_t* b = cols_;
  size_t n = ncols_;
  if (m == 0 || n == 0) return;
  const size_t words = words_;
  if (words == 1 && dense_) return backtrack_one_word(a, m, out);
  // Checkpoint spacing k: keep rows 0, k, 2k, ... and recompute blocks of k+1
  // rows during the backtrack; k = m keeps every row.
  size_t row_bytes = words * sizeof(uint64_t);
  size_t k = m;
  if ((m + 1) * row_bytes > row_budget_) k = std::max<size_t>(1, static_cast<size_t>(std::sqrt(double(m))));
  const bool full = k == m;
  rows_.resize((full ? m + 1 : m / k + 1) * words);
  std::fill(rows_.begin(), rows_.begin() + static_cast<std::ptrdiff_t>(words), ~uint64_t(0));
  if (full) {
    for (size_t r = 0; r < m; ++r) step(rows_.data() + r * words, rows_.data() + (r + 1) * words, a[r], words);
  } else {
    cur_.assign(words, ~uint64_t(0));
    next_.resize(words);
    for (size_t r = 0; r < m; ++r) {
      step(cur_.data(), next_.data(), a[r], words);
      cur_.swap(next_);
      if ((r + 1) % k == 0) std::copy(cur_.begin(), cur_.end(), rows_.begin() + static_cast<std::ptrdiff_t>((r + 1) / k * words));
    }
  }

  // Rows are requested in non-increasing order, always r and r-1 together.
  size_t block_first = 0, block_last = 0;
  bool have_block = false;
  auto row = [&](size_t r) -> const uint64_t* {
    if (full) return rows_.data() + r * words;
    if (!have_block || r < block_first || r > block_last) {
      size_t c = r / k;
      if (r % k == 0 && c > 0) --c;  // keep r and r-1 in one block
      block_first = c * k;
      block_last = std::min(m, block_first + k);
      block_.resize((block_last - block_first + 1) * words);
      std::copy(rows_.begin() + static_cast<std::ptrdiff_t>(c * words),
                rows_.begin() + static_cast<std::ptrdiff_t>((c + 1) * words), block_.begin());
      for (size_t x = block_first; x < block_last; ++x)
        step(block_.data() + (x - block_first) * words, block_.data() + (x - block_first + 1) * words, a[x], words);
      have_block = true;
    }
    return block_.data() + (r - block_first) * words;
  };

  // rouge-score _backtrack_norec over T(i, j) = zeros_before(row(i), j).
  // cur = T(i, j) and up = T(i-1, j) are carried along: a step left changes
  // each by one bit of its row, so only moves up pay a prefix count (O(words)),
  // and the whole backtrack costs O(m + n + m * words).
  auto zero_bit = [](const uint64_t* r, size_t j) -> size_t { return ((r[j / 64] >> (j % 64)) & 1) ? 0 : 1; };
  size_t i = m, j = n;
  size_t cur = zeros_before(row(i), j), up = zeros_before(row(i - 1), j);
  while (i > 0 && j > 0) {
    if (a[i - 1] == b[j - 1]) {
      out.push_back(static_cast<uint32_t>(i - 1));
      cur = up - zero_bit(row(i - 1), j - 1);  // T(i-1, j-1)
      --i;
      --j;
      if (i > 0) up = zeros_before(row(i - 1), j);
      continue;
    }
    size_t left = cur - zero_bit(row(i), j - 1);  // T(i, j-1)
    if (left > up) {
      up -= zero_bit(row(i - 1), j - 1);  // T(i-1, j-1)
      cur = left;
      --j;
    } else {
      cur = up;
      --i;
      if (i > 0) up = zeros_before(row(i - 1), j);
    }
  }
  std::reverse(out.begin(), out.end());
}

}  // namespace mds
