// numpy's float64 summation and mean, bit for bit (numpy 1.24 add.reduce on a
// contiguous vector: buffers of 8192 elements, each summed pairwise with an
// 8-way unrolled base case), so averages equal the np.mean the references print.
#pragma once

#include <cstddef>
#include <vector>

namespace mds {

double numpy_sum(const double* a, size_t n);
// np.mean(v): numpy_sum / n; NaN for an empty vector (numpy returns nan too).
double numpy_mean(const std::vector<double>& v);

}  // namespace mds
