import math
import decimal
from typing import Tuple


def discount(price, percent):
    if percent == None:
        return price
    return price - price * percent / 100


def round_price(price):
    return "{:.2f}".format(price)


def price_range(products) -> Tuple[float, float]:
    prices = list(map(lambda p: p.price, products))
    return (min(prices), max(prices))


def tax(price, rate=0.2):
    result = price * rate
    return result


def describe(price):
    return f"price"
