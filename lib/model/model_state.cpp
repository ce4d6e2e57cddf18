// DiffusionModel's optimiser, EMA and checkpoint state: AdamW over every
// parameter (DiffuSeq applies decay to all of them), the EMA update, and
// save/load as f32 container sections "param/", "ema/", "adam_m/", "adam_v/".
// Loading also takes bf16 "param/" sections (exported sampling checkpoints,
// lib/train/export.h), widened exactly to f32 for the backend.
#include <cmath>
#include <cstring>
#include <tuple>

#include "core/bf16.h"
#include "core/error.h"
#include "model/model.h"

namespace mds {

void DiffusionModel::zero_grad() {
  if (params_.flat()) return be_->fill(params_.flat_grads(), 0.0);
  for (auto& p : params_.all()) be_->fill(p.grad, 0.0);
}

double DiffusionModel::grad_norm(bool* all_finite) {
  if (sharded()) return sharded_grad_norm(all_finite);
  std::vector<const Tensor*> grads;
  for (auto& p : params_.all()) grads.push_back(&p.grad);
  const double s = be_->sum_squares_total(grads);
  if (all_finite) *all_finite = std::isfinite(s);
  return std::sqrt(s);
}

void DiffusionModel::scale_grad(double factor) {
  if (sharded()) return sharded_scale_grad(factor);
  for (auto& p : params_.all()) be_->scale(p.grad, factor);
}

void DiffusionModel::optimizer_step(const OptimizerSettings& opt) {
  ++step_;
  AdamWParams a;
  a.lr = opt.lr;
  a.beta1 = opt.beta1;
  a.beta2 = opt.beta2;
  a.eps = opt.eps;
  a.weight_decay = opt.weight_decay;
  a.step = step_;
  if (sharded()) return sharded_optimizer_step(a);
  params_.ensure_adam();
  for (auto& p : params_.all()) be_->adamw_step(p.value, p.grad, p.adam_m, p.adam_v, a);
}

void DiffusionModel::ema_update(double decay) {
  for (auto& p : params_.all()) be_->ema_update(p.ema, p.value, decay);
}

void DiffusionModel::save_state(Container& out) const {
  auto put = [&](const std::string& prefix, const Param& p, const Tensor& t) {
    std::vector<float> h(size_t(p.value.numel()), 0.0f);
    if (t.defined()) be_->download(t, h.data());
    out.sections.push_back(Section::from<float>(prefix + p.name, h, p.shape));
  };
  // ZeRO-1: every rank takes part in gathering the moments; the sections are
  // the same as a single rank's, in the same order.
  Tensor full_m, full_v;
  if (sharded()) std::tie(full_m, full_v) = gathered_moments();
  for (size_t i = 0; i < params_.size(); ++i) {
    const Param& p = params_.at(int(i));
    put("param/", p, p.value);
    put("ema/", p, p.ema);
    if (sharded()) {
      put("adam_m/", p, params_.flat_range(full_m, params_.flat_offset(int(i)), p.value.numel()));
      put("adam_v/", p, params_.flat_range(full_v, params_.flat_offset(int(i)), p.value.numel()));
    } else {
      put("adam_m/", p, p.adam_m);
      put("adam_v/", p, p.adam_v);
    }
  }
  out.meta["model_state"] = {{"optimizer_step", step_}, {"parameter_count", params_.count()},
                             {"backend", be_->name()}};
}

void DiffusionModel::load_state(const Container& in) {
  const std::string src = in.source.empty() ? "checkpoint" : in.source;
  auto find = [&](const std::string& name) -> const Section* {
    for (const auto& s : in.sections)
      if (s.name == name) return &s;
    return nullptr;
  };
  // Section `name` into h (f32), validated; false when absent.
  auto read = [&](const std::string& name, const Param& p, std::vector<float>& h) -> bool {
    const Section* s = find(name);
    if (!s) return false;
    if (s->dtype != DType::f32 && s->dtype != DType::bf16)
      throw_bad_input("{}: section '{}' has dtype {}, expected f32 or bf16", src, name, dtype_name(s->dtype));
    if (s->shape != p.shape)
      throw_bad_input("{}: section '{}' has shape {}, the model expects {}", src, name, shape_string(s->shape),
                      shape_string(p.shape));
    h.assign(size_t(p.value.numel()), 0.0f);
    if (s->data.size() != h.size() * dtype_size(s->dtype))
      throw_bad_input("{}: section '{}' holds {} bytes, expected {} for shape {}", src, name, s->data.size(),
                      h.size() * dtype_size(s->dtype), shape_string(p.shape));
    if (s->dtype == DType::f32) {
      std::memcpy(h.data(), s->data.data(), h.size() * sizeof(float));
    } else {
      for (size_t i = 0; i < h.size(); ++i) {
        uint16_t b;
        std::memcpy(&b, s->data.data() + i * sizeof b, sizeof b);
        h[i] = bf16_to_float(b);
      }
    }
    // A non-finite weight would sample NaN text or train into NaN: refuse it
    // at load, where the file and the element can still be named.
    for (size_t i = 0; i < h.size(); ++i)
      if (!std::isfinite(h[i]))
        throw_bad_input("{}: section '{}' holds {} at element {}: the checkpoint is damaged", src, name,
                        std::isnan(h[i]) ? "NaN" : "an infinity", i);
    return true;
  };
  std::vector<float> h, hv;
  auto load = [&](const std::string& name, const Param& p, Tensor& dst) -> bool {
    if (!read(name, p, h)) return false;
    if (!dst.defined()) dst = be_->alloc(p.shape);
    be_->upload(dst, h.data());
    return true;
  };
  // A sampling checkpoint (lib/train/export.h) holds the EMA weights alone,
  // as "param/": they are both the weights and their EMA.
  const bool ema_export = in.meta.contains("export") && in.meta["export"].is_object() &&
                          in.meta["export"].value("weights", std::string()) == "ema";
  if (sharded()) clear_moment_shards();
  for (size_t i = 0; i < params_.size(); ++i) {
    Param& p = params_.at(int(i));
    if (ema_export && (find("ema/" + p.name) || find("adam_m/" + p.name)))
      throw_bad_input("{}: a sampling checkpoint (meta \"export\") must hold only 'param/' weights, found training "
                      "state for '{}'", src, p.name);
    if (!load("param/" + p.name, p, p.value))
      throw_bad_input("{}: missing section 'param/{}' (is the checkpoint from another model configuration?)", src,
                      p.name);
    if (!load("ema/" + p.name, p, p.ema)) {
      if (!ema_export)
        throw_bad_input("{}: missing section 'ema/{}': a training checkpoint holds the EMA of every weight (a "
                        "sampling checkpoint says so in its meta \"export\")",
                        src, p.name);
      be_->copy(p.value, p.ema);
    }
    bool m, v;
    if (sharded()) {
      m = read("adam_m/" + p.name, p, h);
      v = read("adam_v/" + p.name, p, hv);
      if (m && v) upload_moment_shard(int(i), h, hv);
    } else {
      m = load("adam_m/" + p.name, p, p.adam_m);
      v = load("adam_v/" + p.name, p, p.adam_v);
    }
    if (m != v) throw_bad_input("{}: '{}' has only one of its two AdamW moments", src, p.name);
    be_->fill(p.grad, 0.0);
  }
  step_ = 0;
  if (in.meta.contains("model_state") && in.meta["model_state"].contains("optimizer_step"))
    step_ = in.meta["model_state"]["optimizer_step"].get<int64_t>();
}

}  // namespace mds
