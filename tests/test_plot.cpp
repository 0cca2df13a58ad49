// Tests of the SVG charts (line, small multiples, heatmap, ternary) and of `diverge plot` on synthetic logs.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/files.h"
#include "engine/plot/colors.h"
#include "engine/plot/heatmap.h"
#include "engine/plot/line_chart.h"
#include "engine/plot/small_multiples.h"
#include "engine/plot/smoothing.h"
#include "engine/plot/svg.h"
#include "engine/plot/ternary.h"
#include "engine/plot/ticks.h"
#include "tests/support.h"
#include "tests/xml_check.h"

using namespace diverge;
using namespace diverge::plot;
using diverge::test::find_elements;
using diverge::test::parse_xml;
using diverge::test::run_diverge;
using diverge::test::ScratchDir;
using diverge::test::XmlElement;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// No rendering of a non-finite number may leak into the document.
bool mentions_non_finite(const std::string& svg) {
  const std::string l = lower(svg);
  return l.find("nan") != std::string::npos || l.find("inf") != std::string::npos;
}

std::vector<std::string> texts(const XmlElement& root, std::string_view css_class = "") {
  std::vector<std::string> out;
  for (const auto* e : find_elements(root, "text", css_class)) out.push_back(e->text);
  return out;
}

bool has_text(const XmlElement& root, const std::string& text) {
  const auto all = texts(root);
  return std::find(all.begin(), all.end(), text) != all.end();
}

double number_attr(const XmlElement& e, std::string_view name) {
  const std::string* v = e.attribute(name);
  REQUIRE(v != nullptr);
  return std::stod(*v);
}

std::size_t subpath_count(const XmlElement& path) {
  const std::string* d = path.attribute("d");
  REQUIRE(d != nullptr);
  return static_cast<std::size_t>(std::count(d->begin(), d->end(), 'M'));
}

// The (x, y) points of a path's data "M x,y L x,y ...".
std::vector<std::pair<double, double>> path_points(const XmlElement& path) {
  std::string d = *path.attribute("d");
  std::replace_if(d.begin(), d.end(), [](char c) { return c == 'M' || c == 'L' || c == ','; }, ' ');
  std::istringstream in(d);
  std::vector<std::pair<double, double>> points;
  double x, y;
  while (in >> x >> y) points.emplace_back(x, y);
  return points;
}

Series ramp(const std::string& name, double scale, std::size_t n) {
  Series s{name, {}, {}};
  for (std::size_t i = 0; i < n; ++i) {
    s.x.push_back(static_cast<double>(i) * 10);
    s.y.push_back(scale * (1.0 + 4.0 / (1.0 + static_cast<double>(i))));
  }
  return s;
}

}  // namespace

TEST_CASE("the XML checker accepts well-formed documents and rejects broken ones") {
  CHECK_NOTHROW(parse_xml("<?xml version=\"1.0\"?>\n<a x='1' y=\"2\"><b/><!-- c --><c>t &amp; &#38; u</c></a>"));
  CHECK(parse_xml("<a><b>x &lt; y</b></a>").children[0].text == "x < y");
  CHECK_THROWS(parse_xml("<a><b></a></b>"));
  CHECK_THROWS(parse_xml("<a x=1/>"));
  CHECK_THROWS(parse_xml("<a x='1' x='2'/>"));
  CHECK_THROWS(parse_xml("<a>fish & chips</a>"));
  CHECK_THROWS(parse_xml("<a x='<'/>"));
  CHECK_THROWS(parse_xml("<a></a><b></b>"));
  CHECK_THROWS(parse_xml("<a>"));
}

TEST_CASE("SVG text is escaped and numbers are compact") {
  CHECK(escape_xml("a<b & \"c\" 'd'>") == "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;");
  CHECK(escape_xml("tab\tbell\x07") == "tab\tbell?");
  CHECK(format_number(3.0) == "3");
  CHECK(format_number(2.5) == "2.5");
  CHECK(format_number(1234.567) == "1234.57");
  CHECK(format_number(-0.001) == "0");
  CHECK_THROWS_AS(format_number(kNaN), Error);
  CHECK_THROWS_AS(format_number(-kInf), Error);
  SvgDocument doc(10, 10);
  doc.open("g");
  doc.text_element("text", {{"class", "t"}}, "<&>");
  const auto root = parse_xml(doc.finish());  // the open <g> is closed by finish()
  CHECK(find_elements(root, "text")[0]->text == "<&>");
}

TEST_CASE("linear ticks are round, evenly spaced and cover the data") {
  for (auto [low, high] : {std::pair{0.3, 9.7}, {2.05, 2.61}, {-3.0, 1e6}, {1e-5, 3e-4}, {5.0, 5.0}}) {
    const Ticks t = linear_ticks(low, high);
    REQUIRE(t.values.size() >= 3);
    CHECK(t.values.size() <= 11);
    CHECK(t.low <= low);
    CHECK(t.high >= high);
    const double step = t.values[1] - t.values[0];
    const double mantissa = step / std::pow(10.0, std::floor(std::log10(step)));
    CHECK(std::min({std::fabs(mantissa - 1), std::fabs(mantissa - 2), std::fabs(mantissa - 2.5),
                    std::fabs(mantissa - 5)}) < 1e-9);
    for (std::size_t i = 1; i < t.values.size(); ++i) CHECK(t.values[i] - t.values[i - 1] == doctest::Approx(step));
    CHECK(t.labels.size() == t.values.size());
  }
  CHECK(tick_labels({0, 5e5, 1e6, 1.5e6, 2e6}, 5e5) == std::vector<std::string>{"0", "0.5M", "1.0M", "1.5M", "2.0M"});
  CHECK(tick_labels({0, 0.25, 0.5}, 0.25) == std::vector<std::string>{"0", "0.25", "0.50"});
  CHECK(tick_labels({0, 1e-4, 2e-4}, 1e-4) == std::vector<std::string>{"0", "1e-4", "2e-4"});
  CHECK(format_compact(999999) == "1M");
  CHECK(format_compact(0.00025) == "2.5e-4");
}

TEST_CASE("log ticks fall on decades for wide ranges and on 1-2-5 multiples for narrow ones") {
  const Ticks wide = log_ticks(0.01, 100);
  CHECK(wide.values == std::vector<double>{0.01, 0.1, 1, 10, 100});
  CHECK(wide.low < 0.01);
  CHECK(wide.high > 100);
  const Ticks narrow = log_ticks(2.2, 9.5);
  CHECK(narrow.values.size() >= 3);
  for (double v : narrow.values) CHECK((v >= narrow.low && v <= narrow.high));
}

TEST_CASE("EMA smoothing is bias-corrected and steps over missing values") {
  const auto constant = ema_smooth({4, 4, 4, 4}, 0.9);
  for (double v : constant) CHECK(v == doctest::Approx(4));
  // Two points, weight 1/2: ((1 - w) w y0 + (1 - w) y1) / (1 - w^2) = (0.25 + 1.5) / 0.75.
  const auto two = ema_smooth({1, kNaN, 3}, 0.5);
  CHECK(two[0] == doctest::Approx(1));
  CHECK(std::isnan(two[1]));
  CHECK(two[2] == doctest::Approx(7.0 / 3.0));
  CHECK(ema_smooth({1, 2, 3}, 0) == std::vector<double>{1, 2, 3});
  CHECK_THROWS_AS(ema_smooth({1}, 1.0), Error);
}

TEST_CASE("a line chart draws one path per series, a legend and axis labels") {
  LineChart chart;
  chart.title = "Training loss";
  chart.x_label = "step";
  chart.y_label = "loss";
  chart.series = {ramp("baseline", 1.0, 50), ramp("edl-3", 0.9, 50), ramp("edl-49", 0.8, 50)};
  const std::string svg = render_line_chart(chart);
  const auto root = parse_xml(svg);
  CHECK(find_elements(root, "path", "series").size() == 3);
  CHECK(find_elements(root, "path", "series-raw").empty());
  for (const char* text : {"Training loss", "step", "loss", "baseline", "edl-3", "edl-49"}) CHECK(has_text(root, text));
  CHECK(texts(root, "tick-label").size() >= 6);
  CHECK_FALSE(mentions_non_finite(svg));

  chart.smoothing = 0.8;
  const auto smoothed = parse_xml(render_line_chart(chart));
  CHECK(find_elements(smoothed, "path", "series").size() == 3);
  CHECK(find_elements(smoothed, "path", "series-raw").size() == 3);
}

TEST_CASE("missing values are skipped: the line breaks and no NaN reaches the SVG") {
  LineChart chart;
  chart.title = "gaps";
  Series s = ramp("run", 1.0, 20);
  s.y[5] = kNaN;
  s.y[12] = kInf;
  s.x[15] = -kInf;
  Series empty{"diverged", {0, 1}, {kNaN, kNaN}};
  chart.series = {s, empty};
  for (bool log_y : {false, true}) {
    chart.log_y = log_y;
    for (double smoothing : {0.0, 0.6}) {
      chart.smoothing = smoothing;
      const std::string svg = render_line_chart(chart);
      CHECK_FALSE(mentions_non_finite(svg));
      const auto root = parse_xml(svg);
      const auto paths = find_elements(root, "path", "series");
      REQUIRE(paths.size() == 1);  // the all-missing series has a legend entry but no line
      CHECK(subpath_count(*paths[0]) == 4);
      CHECK(has_text(root, "diverged"));
    }
  }
  chart.log_y = true;
  chart.series = {Series{"lr", {0, 1, 2, 3}, {0, 1e-4, 3e-4, 2e-4}}};  // zero cannot sit on a log axis
  const auto root = parse_xml(render_line_chart(chart));
  CHECK(subpath_count(*find_elements(root, "path", "series")[0]) == 1);
  chart.series[0].y.pop_back();
  CHECK_THROWS_WITH_AS(render_line_chart(chart), doctest::Contains("series 'lr' has 4 x values but 3 y values"), Error);
}

TEST_CASE("long series are thinned to a few points per pixel without losing their extremes") {
  LineChart chart;
  Series s{"long", {}, {}};
  for (int i = 0; i < 100000; ++i) {
    s.x.push_back(i);
    s.y.push_back(i == 61234 ? 50.0 : 1.0);
  }
  chart.series = {s};
  const auto root = parse_xml(render_line_chart(chart, 600, 300));
  const auto points = path_points(*find_elements(root, "path", "series")[0]);
  CHECK(points.size() <= 4 * 600);
  std::set<double> heights;
  for (const auto& p : points) heights.insert(p.second);
  CHECK(heights.size() == 2);  // the flat line and the one spike
  CHECK(std::is_sorted(points.begin(), points.end()));
}

TEST_CASE("small multiples draw a panel per chart, one colour per run in every panel") {
  SmallMultiples grid;
  grid.title = "Losses";
  grid.x_label = "step";
  for (const char* key : {"loss", "lm", "edl", "jsd", "d_inter"}) {
    LineChart panel;
    panel.title = key;
    panel.series = {ramp("baseline", 1.0, 30), ramp("edl", 0.5, 30)};
    grid.panels.push_back(panel);
  }
  grid.panels[1].series = {ramp("edl", 0.5, 30), ramp("baseline", 1.0, 30)};  // order differs, colours must not
  const std::string svg = render_small_multiples(grid);
  const auto root = parse_xml(svg);
  CHECK(find_elements(root, "g", "panel").size() == 5);
  const auto paths = find_elements(root, "path", "series");
  REQUIRE(paths.size() == 10);
  for (const auto* p : paths) {
    const std::string name = find_elements(*p, "title")[0]->text;
    CHECK(*p->attribute("stroke") == series_color(name == "baseline" ? 0 : 1));
  }
  for (const char* key : {"Losses", "loss", "lm", "edl", "jsd", "d_inter", "baseline"}) CHECK(has_text(root, key));
  CHECK(find_elements(root, "line", "series-swatch").size() == 2);
  grid.panels.clear();
  CHECK_THROWS_AS(render_small_multiples(grid), Error);
}

TEST_CASE("a domain x expert heatmap of 64 columns keeps every label, cell and colour") {
  Heatmap map;
  map.title = "Layer 3 routing";
  map.x_label = "expert";
  map.y_label = "domain";
  map.value_label = "share";
  map.row_labels = {"prose", "code", "math"};
  for (int e = 0; e < 64; ++e) map.column_labels.push_back(std::to_string(e));
  for (int r = 0; r < 3; ++r)
    for (int e = 0; e < 64; ++e) map.values.push_back(static_cast<double>((r * 64 + e) % 17) / 16.0);
  map.values[70] = kNaN;
  const std::string svg = render_heatmap(map);
  CHECK_FALSE(mentions_non_finite(svg));
  const auto root = parse_xml(svg);
  const auto cells = find_elements(root, "rect", "cell");
  CHECK(cells.size() == 191);
  CHECK(find_elements(root, "rect", "missing-cell").size() == 1);
  for (const auto& label : map.column_labels) CHECK(has_text(root, label));
  const auto column_labels = find_elements(root, "text", "tick-label");
  const auto last_column = std::find_if(column_labels.begin(), column_labels.end(),
                                        [](const XmlElement* e) { return e->text == "63"; });
  REQUIRE(last_column != column_labels.end());
  CHECK((*last_column)->attribute("transform") != nullptr);  // too wide across a 12 px cell: turned vertical
  for (const auto& label : map.row_labels) CHECK(has_text(root, label));
  for (const char* text : {"Layer 3 routing", "expert", "domain", "share"}) CHECK(has_text(root, text));
  // The cells for the smallest and largest values take the two ends of the colormap.
  CHECK(*cells[0]->attribute("fill") == viridis(0));
  CHECK(*cells[16]->attribute("fill") == viridis(1));
  CHECK(find_elements(root, "linearGradient").size() == 1);
  CHECK(texts(root, "cell-value").empty());
  // Cells at least 12 px wide: 64 columns stay legible.
  CHECK(number_attr(*cells[1], "x") - number_attr(*cells[0], "x") >= 12);

  map.show_values = true;
  const auto with_values = parse_xml(render_heatmap(map));
  CHECK(texts(with_values, "cell-value").size() == 191);

  map.values.pop_back();
  CHECK_THROWS_WITH_AS(render_heatmap(map), doctest::Contains("need 192 values, got 191"), Error);
}

TEST_CASE("a JSD matrix heatmap shows its values and honours a fixed colour range") {
  Heatmap map;
  map.title = "JSD";
  map.row_labels = map.column_labels = {"prose", "code", "math"};
  map.values = {0, 0.3, 0.2, 0.3, 0, 0.25, 0.2, 0.25, 0};
  map.show_values = true;
  map.min = 0;
  map.max = 0.6;
  const auto root = parse_xml(render_heatmap(map));
  const auto values = texts(root, "cell-value");
  REQUIRE(values.size() == 9);
  CHECK(values[1] == "0.30");
  CHECK(*find_elements(root, "rect", "cell")[1]->attribute("fill") == viridis(0.5));
  map.max = -1.0;
  CHECK_THROWS_AS(render_heatmap(map), Error);
}

TEST_CASE("ternary points sit at their barycentric positions") {
  TernaryChart chart;
  chart.title = "Layer 0 experts";
  chart.corners = {"prose", "code", "math"};
  chart.series = {TernarySeries{"baseline", {{1, 0, 0}, {0, 1, 0}, {0, 0, 2}, {1, 1, 1}}, {"e0", "e1", "e2", "e3"}},
                  TernarySeries{"edl", {{0.2, 0.3, 0.5}, {kNaN, 0, 1}}, {}}};
  const std::string svg = render_ternary(chart);
  CHECK_FALSE(mentions_non_finite(svg));
  const auto root = parse_xml(svg);
  const auto simplex = find_elements(root, "polygon", "simplex");
  REQUIRE(simplex.size() == 1);
  double corner[3][2];
  {
    std::string points = *simplex[0]->attribute("points");
    std::replace(points.begin(), points.end(), ',', ' ');
    std::istringstream in(points);
    for (auto& c : corner) in >> c[0] >> c[1];
  }
  const auto groups = find_elements(root, "g", "series");
  REQUIRE(groups.size() == 2);
  const auto base = find_elements(*groups[0], "circle", "point");
  REQUIRE(base.size() == 4);
  for (int k = 0; k < 3; ++k) {
    CHECK(number_attr(*base[k], "cx") == doctest::Approx(corner[k][0]).epsilon(0.01));
    CHECK(number_attr(*base[k], "cy") == doctest::Approx(corner[k][1]).epsilon(0.01));
  }
  CHECK(number_attr(*base[3], "cx") == doctest::Approx((corner[0][0] + corner[1][0] + corner[2][0]) / 3).epsilon(0.01));
  CHECK(number_attr(*base[3], "cy") == doctest::Approx((corner[0][1] + corner[1][1] + corner[2][1]) / 3).epsilon(0.01));
  const auto edl = find_elements(*groups[1], "circle", "point");
  REQUIRE(edl.size() == 1);  // the NaN point is skipped
  const double expected_x = 0.2 * corner[0][0] + 0.3 * corner[1][0] + 0.5 * corner[2][0];
  CHECK(number_attr(*edl[0], "cx") == doctest::Approx(expected_x).epsilon(0.01));
  CHECK(find_elements(root, "line", "grid").size() == 12);  // 4 lines for each of 3 coordinates
  for (const char* text : {"Layer 0 experts", "prose", "code", "math", "baseline", "edl", "e0", "e3", "0.2", "0.8"})
    CHECK(has_text(root, text));
  chart.series[1].points[0][2] = -0.1;
  CHECK_THROWS_WITH_AS(render_ternary(chart), doctest::Contains("'edl': point 0 has a negative coordinate"), Error);
}

TEST_CASE("degenerate inputs still give valid charts: one point, constant values, nothing at all") {
  for (bool log_y : {false, true}) {
    LineChart chart;
    chart.log_y = log_y;
    chart.series = {Series{"one", {5}, {2}}, Series{"flat", {0, 1, 2}, {3, 3, 3}}};
    const auto root = parse_xml(render_line_chart(chart));
    CHECK(find_elements(root, "path", "series").size() == 2);
    CHECK(find_elements(root, "circle", "marker").size() == 4);
    chart.series = {};
    const auto empty = parse_xml(render_line_chart(chart));
    CHECK(find_elements(empty, "path", "series").empty());
    CHECK(has_text(empty, "no data"));
  }
  Heatmap single;
  single.row_labels = {"r"};
  single.column_labels = {"c"};
  single.values = {kNaN};
  single.show_values = true;
  CHECK(find_elements(parse_xml(render_heatmap(single)), "rect", "missing-cell").size() == 1);
  single.values = {0.5};
  CHECK(texts(parse_xml(render_heatmap(single)), "cell-value") == std::vector<std::string>{"0.50"});
  TernaryChart nothing;
  nothing.corners = {"a", "b", "c"};
  nothing.series = {TernarySeries{"none", {}, {}}};
  CHECK(find_elements(parse_xml(render_ternary(nothing)), "circle", "point").empty());
}

namespace {

// A run's log as the trainer writes it: training records, evaluation records carrying only the step, noise.
void write_log(const fs::path& path, double scale, bool with_nan) {
  std::string text;
  for (int step = 1; step <= 40; ++step) {
    const double loss = scale * (2 + 8.0 / step);
    text += "{\"step\":" + std::to_string(step) + ",\"tokens\":" + std::to_string(step * 4096) +
            ",\"loss\":" + std::to_string(loss) + ",\"lm\":" + std::to_string(loss - 0.01) +
            ",\"lr\":" + std::to_string(step * 1e-5) + ",\"edl\":{\"layer0\":{\"jsd\":" +
            (with_nan && step == 7 ? std::string("NaN") : std::to_string(0.01 * step)) + "}}}\n";
    if (step % 10 == 0)
      text += "{\"kind\":\"eval\",\"step\":" + std::to_string(step) + ",\"val\":{\"code\":" +
              std::to_string(loss + 0.1) + ",\"prose\":" + std::to_string(loss + 0.2) + "}}\n";
  }
  fs::create_directories(path.parent_path());
  write_file_atomic(path, text);
}

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

}  // namespace

TEST_CASE("diverge plot draws a panel per key and a line per run") {
  ScratchDir dir("plot-cli");
  write_log(dir / "base/metrics.jsonl", 1.0, false);
  write_log(dir / "edl/metrics.jsonl", 0.9, true);
  const std::string logs = "--metrics " + quoted(dir / "base/metrics.jsonl") + "," + quoted(dir / "edl/metrics.jsonl");
  const auto out = dir / "curves.svg";
  auto r = run_diverge("plot " + logs + " --keys loss,val.code,edl.layer0.jsd --smooth 0.9 --x tokens -o " +
                       quoted(out));
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("3 panels, 2 runs") != std::string::npos);
  const std::string svg = read_file(out);
  CHECK_FALSE(mentions_non_finite(svg));
  const auto root = parse_xml(svg);
  CHECK(find_elements(root, "g", "panel").size() == 3);
  const auto lines = find_elements(root, "path", "series");
  CHECK(lines.size() == 6);
  CHECK(find_elements(root, "path", "series-raw").size() == 4);  // validation curves are not smoothed
  for (const char* text : {"base", "edl", "loss", "val.code", "edl.layer0.jsd", "tokens"}) CHECK(has_text(root, text));
  CHECK(find_elements(root, "circle", "marker").size() == 8);  // 4 evaluations per run, drawn as dots

  auto all = run_diverge("plot " + logs + " --labels a,b --log-y all -o " + quoted(out));
  CHECK(all.exit_code == 0);
  const auto every_key = parse_xml(read_file(out));
  CHECK(find_elements(every_key, "g", "panel").size() == 6);  // loss, lm, lr, edl.layer0.jsd, val.code, val.prose
  CHECK(has_text(every_key, "a"));
}

TEST_CASE("diverge plot names the problem: missing file, unknown key, empty or broken log") {
  ScratchDir dir("plot-cli-errors");
  write_log(dir / "run/metrics.jsonl", 1.0, false);
  const auto out = dir / "out.svg";
  const std::string good = quoted(dir / "run/metrics.jsonl");

  auto missing = run_diverge("plot --metrics " + good + "," + quoted(dir / "nope/metrics.jsonl") + " -o " + quoted(out));
  CHECK(missing.exit_code != 0);
  CHECK(missing.output.find("nope/metrics.jsonl") != std::string::npos);

  auto unknown = run_diverge("plot --metrics " + good + " --keys loss,perplexity -o " + quoted(out));
  CHECK(unknown.exit_code != 0);
  CHECK(unknown.output.find("unknown key 'perplexity'") != std::string::npos);
  CHECK(unknown.output.find("available keys: step, tokens, loss, lm, lr, edl.layer0.jsd, val.code") !=
        std::string::npos);

  write_file_atomic(dir / "empty.jsonl", "\n\n");
  auto empty = run_diverge("plot --metrics " + quoted(dir / "empty.jsonl") + " -o " + quoted(out));
  CHECK(empty.exit_code != 0);
  CHECK(empty.output.find("empty.jsonl: the metrics log holds no record") != std::string::npos);

  write_file_atomic(dir / "broken.jsonl", "{\"step\":1,\"loss\":2}\n{\"step\":2,\"loss\n{\"step\":3}\n");
  auto broken = run_diverge("plot --metrics " + quoted(dir / "broken.jsonl") + " -o " + quoted(out));
  CHECK(broken.exit_code != 0);
  CHECK(broken.output.find("broken.jsonl:2: malformed JSON at column 16: ") != std::string::npos);

  const std::string deep_record = "{\"step\":2,\"x\":" + std::string(30000, '[') + std::string(30000, ']') + "}";
  write_file_atomic(dir / "deep.jsonl", "{\"step\":1,\"loss\":2}\n" + deep_record + "\n");
  auto deep = run_diverge("plot --metrics " + quoted(dir / "deep.jsonl") + " -o " + quoted(out));
  CHECK(deep.exit_code == 1);
  CHECK(deep.output.find("deep.jsonl:2: x[0][0]") != std::string::npos);
  CHECK(deep.output.find("nest deeper than 128 levels") != std::string::npos);

  write_file_atomic(dir / "twice.jsonl", "{\"step\":1,\"loss\":2,\"loss\":3}\n");
  auto twice = run_diverge("plot --metrics " + quoted(dir / "twice.jsonl") + " -o " + quoted(out));
  CHECK(twice.exit_code == 1);
  CHECK(twice.output.find("twice.jsonl:1: loss: duplicate key") != std::string::npos);

  // A live run's last line, cut mid-write, is not an error.
  write_file_atomic(dir / "live.jsonl", "{\"step\":1,\"loss\":2}\n{\"step\":2,\"lo");
  CHECK(run_diverge("plot --metrics " + quoted(dir / "live.jsonl") + " -o " + quoted(out)).exit_code == 0);

  auto no_tokens = run_diverge("plot --metrics " + quoted(dir / "live.jsonl") + " --x tokens -o " + quoted(out));
  CHECK(no_tokens.exit_code != 0);
  CHECK(no_tokens.output.find("no record has the x key 'tokens'") != std::string::npos);

  auto labels = run_diverge("plot --metrics " + good + " --labels a,b -o " + quoted(out));
  CHECK(labels.exit_code != 0);
  CHECK(labels.output.find("2 labels for 1 metrics logs") != std::string::npos);

  auto same = run_diverge("plot --metrics " + good + "," + good + " -o " + quoted(out));
  CHECK(same.exit_code != 0);
  CHECK(same.output.find("run labels must be distinct") != std::string::npos);
}
