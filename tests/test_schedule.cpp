// Tests for the learning-rate schedules against their closed forms and boundary values.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "engine/error.h"
#include "engine/training/schedule.h"

using namespace diverge;

namespace {

config::OptimConfig optim(config::Schedule kind, std::int64_t warmup, std::int64_t decay = 0) {
  config::OptimConfig o;
  o.schedule = kind;
  o.lr = 1e-3;
  o.min_lr = 1e-4;
  o.warmup_steps = warmup;
  o.decay_steps = decay;
  return o;
}

}  // namespace

TEST_CASE("schedule: warmup rises linearly from 0 and reaches the peak at the last warmup step") {
  for (auto kind : {config::Schedule::kCosine, config::Schedule::kWsd, config::Schedule::kConstant}) {
    LrSchedule s(optim(kind, 10, 20), 100);
    CHECK(s.at(0) == 0.0);
    CHECK(s.at(1) == doctest::Approx(1e-4));
    CHECK(s.at(5) == doctest::Approx(5e-4));
    CHECK(s.at(10) == doctest::Approx(1e-3));
  }
}

TEST_CASE("schedule: cosine follows min + (peak - min)(1 + cos(pi p)) / 2 and ends at min_lr") {
  LrSchedule s(optim(config::Schedule::kCosine, 10), 110);
  for (std::int64_t step : {11, 35, 60, 85, 109}) {
    double p = static_cast<double>(step - 10) / 100.0;
    double expected = 1e-4 + 0.9e-3 * 0.5 * (1.0 + std::cos(std::numbers::pi * p));
    CHECK(s.at(step) == doctest::Approx(expected).epsilon(1e-12));
  }
  CHECK(s.at(60) == doctest::Approx(0.55e-3));  // halfway: the mean of peak and floor
  CHECK(s.at(110) == doctest::Approx(1e-4));
}

TEST_CASE("schedule: wsd holds the peak, then decays linearly to min_lr over the last decay_steps") {
  LrSchedule s(optim(config::Schedule::kWsd, 10, 40), 100);
  CHECK(s.at(11) == 1e-3);
  CHECK(s.at(60) == 1e-3);
  CHECK(s.at(70) == doctest::Approx(1e-3 - 0.9e-3 * 0.25));
  CHECK(s.at(80) == doctest::Approx(0.55e-3));
  CHECK(s.at(100) == doctest::Approx(1e-4));
}

TEST_CASE("schedule: constant stays at the peak after warmup; no warmup starts at the peak") {
  LrSchedule s(optim(config::Schedule::kConstant, 0), 50);
  CHECK(s.at(1) == 1e-3);
  CHECK(s.at(50) == 1e-3);
  LrSchedule cosine(optim(config::Schedule::kCosine, 0), 4);
  CHECK(cosine.at(2) == doctest::Approx(1e-4 + 0.9e-3 * 0.5));
}

TEST_CASE("schedule: inconsistent settings are errors naming the section and the rule") {
  CHECK_THROWS_WITH_AS(LrSchedule(optim(config::Schedule::kCosine, 200), 100),
                       doctest::Contains("optim: warmup_steps must be in [0, train.steps = 100]"), Error);
  CHECK_THROWS_WITH_AS(LrSchedule(optim(config::Schedule::kWsd, 10, 0), 100),
                       doctest::Contains("decay_steps must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(LrSchedule(optim(config::Schedule::kWsd, 70, 40), 100),
                       doctest::Contains("warmup_steps + decay_steps must be <= train.steps = 100"), Error);
  auto inverted = optim(config::Schedule::kConstant, 0);
  inverted.min_lr = 1.0;
  CHECK_THROWS_WITH_AS(LrSchedule(inverted, 100), doctest::Contains("min_lr must be <= lr"), Error);
}
