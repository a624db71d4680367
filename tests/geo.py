"""Great-circle distance in plain Python: the independent check of the SQL's ST_Distance_Sphere."""
import math


def haversine_m(lon1, lat1, lon2, lat2):
    r = 6371008.8  # mean Earth radius (IUGG)
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))
