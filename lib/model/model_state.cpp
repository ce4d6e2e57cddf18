// DiffusionModel's optimiser, EMA and checkpoint state: AdamW over every
// parameter (DiffuSeq applies decay to all of them), the EMA update, and
// save/load as f32 container sections "param/", "ema/", "adam_m/", "adam_v/".
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "model/model.h"

namespace mds {

void DiffusionModel::zero_grad() {
  for (auto& p : params_.all()) be_->fill(p.grad, 0.0);
}

double DiffusionModel::grad_norm(bool* all_finite) {
  double s = 0;
  for (auto& p : params_.all()) s += be_->sum_squares(p.grad);
  if (all_finite) *all_finite = std::isfinite(s);
  return std::sqrt(s);
}

void DiffusionModel::scale_grad(double factor) {
  for (auto& p : params_.all()) be_->scale(p.grad, factor);
}

void DiffusionModel::optimizer_step(const OptimizerSettings& opt) {
  params_.ensure_adam();
  ++step_;
  AdamWParams a;
  a.lr = opt.lr;
  a.beta1 = opt.beta1;
  a.beta2 = opt.beta2;
  a.eps = opt.eps;
  a.weight_decay = opt.weight_decay;
  a.step = step_;
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
  for (const auto& p : params_.all()) {
    put("param/", p, p.value);
    put("ema/", p, p.ema);
    put("adam_m/", p, p.adam_m);
    put("adam_v/", p, p.adam_v);
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
  auto load = [&](const std::string& name, const Param& p, Tensor& dst) -> bool {
    const Section* s = find(name);
    if (!s) return false;
    if (s->dtype != DType::f32)
      throw_bad_input("{}: section '{}' has dtype code {}, expected f32", src, name, static_cast<int>(s->dtype));
    if (s->shape != p.shape)
      throw_bad_input("{}: section '{}' has shape {}, the model expects {}", src, name, shape_string(s->shape),
                      shape_string(p.shape));
    std::vector<float> h(size_t(p.value.numel()));
    std::memcpy(h.data(), s->data.data(), h.size() * sizeof(float));
    if (!dst.defined()) dst = be_->alloc(p.shape);
    be_->upload(dst, h.data());
    return true;
  };
  for (auto& p : params_.all()) {
    if (!load("param/" + p.name, p, p.value))
      throw_bad_input("{}: missing section 'param/{}' (is the checkpoint from another model configuration?)", src,
                      p.name);
    if (!load("ema/" + p.name, p, p.ema)) be_->copy(p.value, p.ema);
    const bool m = load("adam_m/" + p.name, p, p.adam_m), v = load("adam_v/" + p.name, p, p.adam_v);
    if (m != v) throw_bad_input("{}: '{}' has only one of its two AdamW moments", src, p.name);
    be_->fill(p.grad, 0.0);
  }
  step_ = 0;
  if (in.meta.contains("model_state") && in.meta["model_state"].contains("optimizer_step"))
    step_ = in.meta["model_state"]["optimizer_step"].get<int64_t>();
}

}  // namespace mds
