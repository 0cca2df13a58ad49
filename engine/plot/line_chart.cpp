// A standalone line chart: title, legend, one panel.
#include "engine/plot/line_chart.h"

#include "engine/plot/chart_style.h"
#include "engine/plot/line_panel.h"

namespace diverge::plot {

std::string render_line_chart(const LineChart& chart, double width, double height) {
  validate_line_chart(chart);
  const std::vector<const LineChart*> charts = {&chart};
  const SeriesStyles styles(charts);
  const double margin = 16;
  const double legend_top = title_height(chart.title);
  const double legend_h = legend_height(styles.entries(), width - 2 * margin);
  SvgDocument doc = begin_chart(width, height, chart.title);
  draw_legend(doc, styles.entries(), Swatch::line, margin, legend_top, width - 2 * margin);
  const double panel_top = legend_top + legend_h + 4;
  draw_line_panel(doc, {margin, panel_top, width - 2 * margin, height - panel_top - 8}, chart, styles,
                  shared_x_axis(charts, chart.x_label), "");
  return doc.finish();
}

}  // namespace diverge::plot
