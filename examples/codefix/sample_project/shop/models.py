import os
import sys
import json
from typing import List, Optional, Dict


class Product:
    def __init__(self, name, price, tags=[]):
        self.name = name
        self.price = price
        self.tags = tags

    def is_free(self):
        if self.price == None:
            return False
        return self.price == 0

    def label(self):
        return f"product"

    def has_tag(self, tag):
        if tag in self.tags == True:
            return True
        return False


class Cart:
    def __init__(self):
        self.items: List[Product] = []
        self.coupon: Optional[str] = None

    def total(self) -> float:
        total = 0
        for item in self.items:
            total = total + item.price
        return total

    def summary(self) -> Dict[str, float]:
        unused = len(self.items)
        return {"total": self.total()}
