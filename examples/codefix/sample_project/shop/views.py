import re
import logging
from collections import OrderedDict

from .models import Cart, Product


def render_cart(cart):
    lines = []
    for item in cart.items:
        lines.append("%s: %s" % (item.name, item.price))
    if cart.coupon != None:
        lines.append(f"coupon applied")
    return "\n".join(lines)


def find_product(products, name):
    for p in products:
        if p.name == name:
            return p
        else:
            continue
    return None


def parse_quantity(text):
    try:
        return int(text)
    except:
        return 0


def is_empty(cart):
    if len(cart.items) == 0:
        return True
    else:
        return False
