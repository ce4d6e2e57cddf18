// Test helpers: host<->backend copies and central finite-difference checks of
// backward operations, run on the double-precision CPU backend.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <random>
#include <vector>

#include "backend/backend.h"

namespace mds {
namespace testing_util {

inline std::vector<double> random_vec(std::mt19937_64& rng, size_t n, double scale = 1.0) {
  std::normal_distribution<double> nd(0.0, scale);
  std::vector<double> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

inline Tensor make_real(Backend& be, std::vector<int64_t> shape, const std::vector<double>& values) {
  Tensor t = be.alloc(std::move(shape));
  be.upload(t, values.data());
  return t;
}

inline Tensor make_random(Backend& be, std::mt19937_64& rng, std::vector<int64_t> shape, double scale = 1.0) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return make_real(be, std::move(shape), random_vec(rng, size_t(n), scale));
}

inline Tensor make_i32(Backend& be, std::vector<int64_t> shape, const std::vector<int32_t>& values) {
  Tensor t = be.alloc(std::move(shape), ElemType::i32);
  be.upload(t, values.data());
  return t;
}

inline Tensor make_u8(Backend& be, std::vector<int64_t> shape, const std::vector<uint8_t>& values) {
  Tensor t = be.alloc(std::move(shape), ElemType::u8);
  be.upload(t, values.data());
  return t;
}

inline std::vector<double> host(Backend& be, const Tensor& t) {
  std::vector<double> v(size_t(t.numel()));
  be.download(t, v.data());
  return v;
}

inline std::vector<int32_t> host_i32(Backend& be, const Tensor& t) {
  std::vector<int32_t> v(size_t(t.numel()));
  be.download(t, v.data());
  return v;
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Relative error with an absolute floor so entries that are ~0 on both sides
// are judged on an absolute scale.
inline double rel_error(double analytic, double numeric, double floor = 1e-4) {
  return std::abs(analytic - numeric) / std::max({std::abs(analytic), std::abs(numeric), floor});
}

// Max relative error between `analytic` (the gradient of loss() w.r.t. the
// real tensor `input`) and central differences, over up to max_entries
// entries (all when smaller; otherwise a fixed random subset). The floor of
// the denominator is 1% of the largest analytic entry (at least 1e-6), so
// entries far below the tensor's scale are judged against that scale rather
// than against the differencing round-off of a large loss.
inline double check_gradient(Backend& be, Tensor& input, const std::vector<double>& analytic,
                             const std::function<double()>& loss, int max_entries = 64, double h = 1e-5,
                             uint64_t seed = 7) {
  std::vector<double> x = host(be, input);
  std::vector<size_t> entries(x.size());
  for (size_t i = 0; i < x.size(); ++i) entries[i] = i;
  if (static_cast<int>(entries.size()) > max_entries) {
    std::mt19937_64 rng(seed);
    std::shuffle(entries.begin(), entries.end(), rng);
    entries.resize(size_t(max_entries));
  }
  double scale = 0;
  for (double a : analytic) scale = std::max(scale, std::abs(a));
  const double floor = std::max(1e-6, 1e-2 * scale);
  double worst = 0;
  for (size_t i : entries) {
    const double orig = x[i];
    x[i] = orig + h;
    be.upload(input, x.data());
    const double lp = loss();
    x[i] = orig - h;
    be.upload(input, x.data());
    const double lm = loss();
    x[i] = orig;
    be.upload(input, x.data());
    worst = std::max(worst, rel_error(analytic[i], (lp - lm) / (2 * h), floor));
  }
  return worst;
}

}  // namespace testing_util
}  // namespace mds

// Prints each measured error (collected for reports) and checks the bound.
#define EXPECT_GRAD_OK(expr, tol)                                                                         \
  do {                                                                                                    \
    const double mds_err_ = (expr);                                                                       \
    std::printf("[gradcheck] %s:%d max rel error %.3e\n", __FILE__ + std::string(__FILE__).rfind('/') + 1, \
                __LINE__, mds_err_);                                                                      \
    EXPECT_LT(mds_err_, tol);                                                                             \
  } while (0)
