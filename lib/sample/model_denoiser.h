// lib/model's DiffusionModel as the samplers' Denoiser, on its own backend,
// with the EMA weights (sampling never uses the raw weights).
#pragma once

#include <memory>

#include "model/model.h"
#include "sample/denoiser.h"

namespace mds {

class ModelDenoiser : public Denoiser {
 public:
  explicit ModelDenoiser(std::unique_ptr<DiffusionModel> model);

  const DenoiserInfo& info() const override { return info_; }
  const SamplingSchedule& schedule() const override { return schedule_; }
  // Schedule indices go to the network as the model's schedule rescales them
  // (index * 1000 / T), fractional ones included.
  void predict_x0(const Batch& batch, const std::vector<float>& x_t, const std::vector<double>& timesteps,
                  std::vector<float>& x0) override;
  const std::vector<float>& embedding() const override { return embedding_; }
  const std::vector<float>& head_bias() const override { return bias_; }
  const std::vector<float>& absorbing_vector() const override { return m_; }
  std::string describe() const override;
  // Rounding and decode on the model's backend.
  void nearest_ids(const float* x, size_t n, int32_t* ids) const override;
  void argmax_ids(const float* x, size_t n, int32_t* ids) const override;

  DiffusionModel& model() { return *model_; }

 private:
  std::vector<float> download(const Tensor& t) const;
  // The model's rounding (argmax = false) or decode (argmax = true) of n vectors on its backend.
  void round_ids(const float* x, size_t n, int32_t* ids, bool argmax) const;
  std::unique_ptr<DiffusionModel> model_;
  DenoiserInfo info_;
  SamplingSchedule schedule_;
  std::vector<float> embedding_, bias_, m_;
};

}  // namespace mds
