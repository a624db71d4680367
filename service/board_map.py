"""The board's city map: the extent and the divisions on the projection the main job's report map uses
(config/grid.py map_projection), drawn once as SVG, and the grid cells ("G" + row + column) and the site's watched
junctions (junctions.yaml) placed on it, so the page can put a marker where an incident's drone went, a camera is
down or a junction is jammed. No tiles: the machine has no internet.
"""
from __future__ import annotations

import html

from safecity.config.grid import cell_centre, map_projection
from safecity.config.junctions import load_junctions
from safecity.config.profiles import Settings

MAP_W, MAP_H = 760, 620


class CityMap:
    def __init__(self, settings: Settings):
        self.city = settings.city
        self.xy = map_projection(self.city, MAP_W, MAP_H)
        self.junctions = {j.id: j for j in load_junctions(self.city)}

    def cell_xy(self, grid_id: str) -> tuple[float, float] | None:
        """The centre of a grid cell on the map, None for anything that is not a cell of this city's grid."""
        centre = cell_centre(self.city, grid_id)
        if centre is None:
            return None
        x, y = self.xy(*centre)
        return round(x, 1), round(y, 1)

    def place(self, lon: float, lat: float) -> tuple[float, float]:
        """A longitude/latitude on the map (network nodes: board_network.py)."""
        x, y = self.xy(lon, lat)
        return round(x, 1), round(y, 1)

    def markers(self, state: dict) -> list[dict]:
        """Map markers for what the state places: blind-spot incidents and their cameras and drones (by grid cell),
        congestion hot spots (by junction; a junction the site does not list has no place and stays in the list)."""
        out = []
        for camera in state["cameras_down"]:
            place = self.cell_xy(camera["grid_id"])
            if place:
                out.append({"kind": "camera_down", "x": place[0], "y": place[1], "grid_id": camera["grid_id"],
                            "label": f"{camera['incident_id']} · {camera['camera_id']}"})
        for order in state["dispatch_orders"]:
            place = self.cell_xy(order["target"])
            if place:
                out.append({"kind": "dispatch", "x": place[0], "y": place[1], "grid_id": order["target"],
                            "label": f"{order['unit_type']} → {order['target']} {order['incident_id']}"})
        for spot in state["congestion"]:
            junction = self.junctions.get(spot["junction_id"])
            if junction:
                x, y = self.xy(junction.lon, junction.lat)
                out.append({"kind": "congestion", "x": round(x, 1), "y": round(y, 1), "grid_id": "",
                            "label": f"{junction.id} {junction.name_zh} 拥堵 congestion ×{spot['dispatches']}"})
        return out

    def svg(self) -> str:
        e = self.city.extent
        x0, y0 = self.xy(e.min_lon, e.max_lat)
        x1, y1 = self.xy(e.max_lon, e.min_lat)
        parts = [f'<svg id="city-map" viewBox="0 0 {MAP_W} {MAP_H}" role="img" '
                 f'aria-label="{html.escape(self.city.name_zh)} {html.escape(self.city.name_en)}">',
                 f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" fill="#0f1c2b" '
                 f'stroke="#4f6b84" stroke-dasharray="4 3"/>']
        for d in self.city.divisions:
            x, y = self.xy(*d.centre)
            parts.append(f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6" fill="#90a4ae"/>'
                         f'<text x="{x + 6:.1f}" y="{y - 5:.1f}" font-size="13" fill="#cfd8dc">'
                         f'{html.escape(d.name_zh)} {html.escape(d.name_en)}</text>')
        # Links under the markers: a marker on a cell stays visible where a link crosses it.
        parts.append('<g id="network"></g><g id="markers"></g></svg>')
        return "".join(parts)
