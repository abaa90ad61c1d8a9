"""Charts drawn once with reportlab's graphics: SVG in the page, the same drawing in the PDF.

Decision 0320. ``drawing(chart)`` builds a reportlab ``Drawing``; the PDF
export adds it as a flowable and the page inlines ``svg(chart)``. reportlab's
SVG renderer writes ``style="..."`` attributes, which the extranet's content
security policy (``style-src 'self'``) refuses, so ``svg`` turns each into the
equivalent SVG presentation attributes. The chart is an image with a title and
a description; its figures are in the data table the page prints beside it.
"""

from __future__ import annotations

from lxml import etree
from reportlab.graphics import renderSVG
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors

from extranet.stats.cells import hours_decimal
from extranet.stats.report import Chart, Kind

#: Okabe–Ito: told apart with every common colour-vision deficiency.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
)
WIDTH, HEIGHT = 720, 300
SVG_NS = "http://www.w3.org/2000/svg"
#: CSS properties reportlab writes that SVG also takes as attributes.
PRESENTATION = frozenset(
    {
        "fill",
        "fill-opacity",
        "fill-rule",
        "stroke",
        "stroke-width",
        "stroke-linecap",
        "stroke-linejoin",
        "stroke-dasharray",
        "stroke-opacity",
        "stroke-miterlimit",
        "font-family",
        "font-size",
        "font-weight",
        "font-style",
        "text-anchor",
        "clip-path",
        "opacity",
    }
)


def _values(chart: Chart) -> list[list[float]]:
    if chart.kind is Kind.HOURS:
        return [[hours_decimal(v) for v in values] for _n, values in chart.series]
    return [[float(v) for v in values] for _n, values in chart.series]


def drawing(chart: Chart, width: float = WIDTH, height: float = HEIGHT) -> Drawing:
    legend_height = 18 * ((len(chart.series) + 3) // 4)
    d = Drawing(width, height)
    bars = VerticalBarChart()
    bars.x, bars.y = 56, 48 + legend_height
    bars.width, bars.height = width - 76, height - 96 - legend_height
    data = _values(chart)
    bars.data = data if any(data) else [[0.0] * max(1, len(chart.categories))]
    bars.categoryAxis.categoryNames = chart.categories or [""]
    bars.categoryAxis.labels.fontName = "Helvetica"
    bars.categoryAxis.labels.fontSize = 9
    many = len(chart.categories) > 12
    if many:
        bars.categoryAxis.labels.angle = 45
        bars.categoryAxis.labels.boxAnchor = "ne"
    bars.categoryAxis.style = "stacked" if chart.stacked else "parallel"
    bars.valueAxis.valueMin = 0
    bars.valueAxis.labels.fontName = "Helvetica"
    bars.valueAxis.labels.fontSize = 9
    bars.valueAxis.labelTextFormat = lambda v: f"{v:g}".replace(".", ",")
    bars.valueAxis.visibleGrid = True
    bars.valueAxis.gridStrokeColor = colors.HexColor("#d0d0d0")
    bars.barSpacing = 1
    bars.groupSpacing = 6
    for i in range(len(bars.data)):
        bars.bars[i].fillColor = colors.HexColor(PALETTE[i % len(PALETTE)])
        bars.bars[i].strokeColor = colors.white
        bars.bars[i].strokeWidth = 0.5
    d.add(bars)
    d.add(String(8, height - 16, chart.title, fontName="Helvetica-Bold", fontSize=11))
    d.add(String(8, height - 30, f"en {chart.unit}", fontName="Helvetica", fontSize=8))
    if chart.series and (len(chart.series) > 1 or chart.series[0][0]):
        legend = Legend()
        legend.x, legend.y = 56, legend_height + 4
        legend.alignment = "right"
        legend.columnMaximum = 1
        legend.dx = legend.dy = 8
        legend.fontName = "Helvetica"
        legend.fontSize = 9
        legend.deltax = (width - 76) / 4
        legend.boxAnchor = "nw"
        legend.colorNamePairs = [
            (colors.HexColor(PALETTE[i % len(PALETTE)]), name)
            for i, (name, _v) in enumerate(chart.series)
        ]
        # One row of up to four entries per line.
        legend.columnMaximum = (len(chart.series) + 3) // 4 or 1
        d.add(legend)
    return d


def svg(chart: Chart) -> str:
    """The chart as inline SVG markup: no style attribute, labelled for assistive technology."""
    raw = renderSVG.drawToString(drawing(chart))
    root = etree.fromstring(
        raw.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True)
    )
    for element in root.iter():
        style = str(element.attrib.pop("style", ""))
        if style:
            for declaration in style.split(";"):
                name, sep, value = declaration.partition(":")
                name, value = name.strip(), value.strip()
                if sep and name in PRESENTATION:
                    element.set(name, value)
        # reportlab names its clip path "clip" and its group "group": unique per chart.
        if "id" in element.attrib:
            element.set("id", f"{chart.key}-{element.get('id')}")
        if "clip-path" in element.attrib:
            element.set(
                "clip-path", element.get("clip-path", "").replace("url(#", f"url(#{chart.key}-")
            )
    for tag in ("title", "desc"):
        for old in root.findall(f"{{{SVG_NS}}}{tag}"):
            root.remove(old)
    title = etree.Element(f"{{{SVG_NS}}}title", id=f"{chart.key}-titre")
    title.text = chart.title
    desc = etree.Element(f"{{{SVG_NS}}}desc", id=f"{chart.key}-desc")
    desc.text = "Les valeurs du graphique sont dans le tableau qui le suit."
    root.insert(0, desc)
    root.insert(0, title)
    root.set("role", "img")
    root.set("aria-labelledby", f"{chart.key}-titre {chart.key}-desc")
    root.set("class", "chart")
    root.set("id", chart.key)
    for attr in ("width", "height"):
        if attr in root.attrib:
            del root.attrib[attr]
    return etree.tostring(root, encoding="unicode")
