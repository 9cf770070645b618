#include "myelin/mixed_precision.hpp"

#include <mutex>
#include <nlohmann/json.hpp>

#include "kernels/cpu/bf16.hpp"
#include "myelin/error.hpp"

namespace myelin::mixed_precision {

namespace {
std::mutex g_mutex;
std::string g_policy = "float32";

std::string checked(const std::string& name, const std::string& who) {
  if (name == "float32") return name;
  if (name == "auto") return bf16_faster_than_float32() ? "mixed_bfloat16" : "float32";
  if (name == "mixed_bfloat16") {
    if (!bf16_supported())
      throw Error(who + ": policy 'mixed_bfloat16' needs a CPU with bfloat16 dot products (AVX512_BF16 or "
                        "AMX-BF16), and this one has none; use 'float32', or 'auto' to fall back to it");
    return name;
  }
  throw ValueError(who + ": unknown dtype policy '" + name +
                   "' (myelin knows 'float32', 'mixed_bfloat16' and 'auto')");
}
}  // namespace

bool bf16_supported() { return kernels::bf16_supported(); }

bool bf16_faster_than_float32() { return kernels::bf16_faster_than_float32(); }

void set_global_policy(const std::string& name) {
  const std::string p = checked(name, "mixed_precision.set_global_policy");
  std::lock_guard<std::mutex> lock(g_mutex);
  g_policy = p;
}

std::string global_policy() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_policy;
}

std::string policy_from_config(const nlohmann::json& c, const std::string& who) {
  if (!c.contains("dtype") || c["dtype"].is_null()) return global_policy();
  const auto& d = c["dtype"];
  std::string name;
  if (d.is_string()) {
    name = d.get<std::string>();
  } else if (d.is_object() && d.contains("config") && d["config"].is_object() && d["config"].contains("name") &&
             d["config"]["name"].is_string()) {
    name = d["config"]["name"].get<std::string>();
  } else {
    throw ValueError(who + ": 'dtype' must be a policy name or {\"class_name\": \"DTypePolicy\", \"config\": "
                           "{\"name\": ...}}, got " + d.dump());
  }
  // A file written on a bfloat16 machine still loads on one without: its weights are float32, and
  // such a layer computes in float32 there (Dense/Conv2D check bf16_supported() themselves).
  if (name == "mixed_bfloat16") return name;
  return checked(name, who);
}

std::string layer_policy(const std::string& dtype, const std::string& who) {
  return policy_from_config(dtype.empty() ? nlohmann::json::object() : nlohmann::json{{"dtype", dtype}}, who);
}

nlohmann::json policy_to_config(const std::string& name) {
  return {{"module", "keras"}, {"class_name", "DTypePolicy"}, {"config", {{"name", name}}}, {"registered_name", nullptr}};
}

}  // namespace myelin::mixed_precision
