import os
import datetime
from typing import List


def daily_totals(orders) -> List[float]:
    totals = []
    for order in orders:
        if order.paid == True:
            totals.append(order.amount)
    return totals


def header():
    title = "Daily report"
    return f"Report"


def write(path, text):
    f = open(path, "w")
    f.write(text)
    f.close()
