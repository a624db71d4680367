"""GB/T 33171's index and grade in plain Python, written from the standard's table (not from the SQL): the
independent calculation the congestion mart's and the congestion readings' tests compare with."""

GRADE_BY_SPEED = (("speed_free_flow_gt", "free_flow"), ("speed_mostly_free_gt", "mostly_free"),
                  ("speed_light_gt", "light"), ("speed_moderate_gt", "moderate"))


def congestion_index(speed, t):
    """GB/T 33171's 0–10 index, linear inside each grade's band between the road class's thresholds t1 > … > t4."""
    t1, t2, t3, t4 = (t[k] for k, _ in GRADE_BY_SPEED)
    if speed >= 2 * t1:
        return 0.0
    for (upper, lower), base in zip(((2 * t1, t1), (t1, t2), (t2, t3), (t3, t4), (t4, 0)), (0, 2, 4, 6, 8)):
        if speed > lower or lower == 0:
            return base + 2 * (upper - max(speed, 0)) / (upper - lower)


def congestion_grade(index, bands):
    """The grade whose half-open band [min_index, max_index) holds the index; 10 belongs to the band ending at 10."""
    return next(g for g, b in bands.items()
                if b["min_index"] <= index < b["max_index"] or index == 10 == b["max_index"])
