"""A camera's access path through the network registry, computed in plain Python for the tests: its own attachment,
else its NVR's (registry parent), gives its access node; the node networks when following uplinks (downstream →
upstream node) reaches a node of level city. Independent of the SQL in transforms/ and analytics/."""
from __future__ import annotations


def nodes_reaching_core(uplinks: dict[str, str], city_nodes: set[str]) -> set[str]:
    """uplinks: downstream node → upstream node. The nodes whose chain of uplinks reaches a city node (a loop
    ends the walk)."""
    reached = set()
    for node in uplinks:
        seen, current = set(), node
        while current in uplinks and current not in seen:
            seen.add(current)
            current = uplinks[current]
            if current in city_nodes:
                reached.add(node)
                break
    return reached


def access_node(device: str, parent: str | None, attachments: dict[str, str]) -> str | None:
    return attachments.get(device) or (attachments.get(parent) if parent else None)


def path_elements(node: str, uplinks: dict[str, str], links_by_downstream: dict[str, str]) -> list[tuple[str, str]]:
    """('node' | 'link', id) from the access node up to the core."""
    elements, seen = [("node", node)], set()
    while node in uplinks and node not in seen:
        seen.add(node)
        elements.append(("link", links_by_downstream[node]))
        node = uplinks[node]
        elements.append(("node", node))
    return elements
