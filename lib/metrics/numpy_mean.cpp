// numpy pairwise summation (numpy/core/src/umath/loops_utils.h.src,
// pairwise_sum) and the buffered reduction around it.
#include "metrics/numpy_mean.h"

#include <limits>

namespace mds {

namespace {

constexpr size_t kBlock = 128;    // PW_BLOCKSIZE
constexpr size_t kBuffer = 8192;  // NPY_BUFSIZE: the reduction sees the vector in buffers

double pairwise(const double* a, size_t n) {
  if (n < 8) {
    double res = 0.0;
    for (size_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= kBlock) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    size_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  size_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise(a, n2) + pairwise(a + n2, n - n2);
}

}  // namespace

double numpy_sum(const double* a, size_t n) {
  double s = 0.0;  // the identity of add, then one pairwise sum per buffer
  for (size_t off = 0; off < n; off += kBuffer) s += pairwise(a + off, n - off < kBuffer ? n - off : kBuffer);
  return s;
}

double numpy_mean(const std::vector<double>& v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  return numpy_sum(v.data(), v.size()) / static_cast<double>(v.size());
}

}  // namespace mds
