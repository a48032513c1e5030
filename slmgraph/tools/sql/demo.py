"""The demo database: a small shop (customers, products, orders), built deterministically.

``slmgraph demo-db PATH`` writes it; ``slmgraph ask`` uses it when no ``--db`` is given. The
same seed always yields the same rows, so the README's answers stay true.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE categories (
  category_id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);
CREATE TABLE products (
  product_id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  category_id INTEGER NOT NULL REFERENCES categories(category_id),
  price REAL NOT NULL,
  stock INTEGER NOT NULL
);
CREATE TABLE customers (
  customer_id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  email TEXT NOT NULL UNIQUE,
  city TEXT NOT NULL,
  country TEXT NOT NULL,
  joined_on TEXT NOT NULL
);
CREATE TABLE orders (
  order_id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers(customer_id),
  ordered_on TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'shipped', 'delivered', 'cancelled'))
);
CREATE TABLE order_items (
  order_id INTEGER NOT NULL REFERENCES orders(order_id),
  product_id INTEGER NOT NULL REFERENCES products(product_id),
  quantity INTEGER NOT NULL,
  unit_price REAL NOT NULL,
  PRIMARY KEY (order_id, product_id)
);
"""

CATEGORIES = ["Books", "Electronics", "Garden", "Kitchen", "Toys"]
PRODUCTS = {
    "Books": [
        ("The Pragmatic Programmer", 39.9),
        ("Dune", 12.5),
        ("Clean Code", 34.0),
        ("The Hobbit", 9.99),
        ("Sapiens", 18.0),
        ("Educated", 15.5),
    ],
    "Electronics": [
        ("Wireless Mouse", 24.99),
        ("USB-C Charger", 19.9),
        ("Noise-Cancelling Headphones", 199.0),
        ("Mechanical Keyboard", 89.0),
        ("4K Monitor", 329.0),
        ("Webcam", 49.5),
    ],
    "Garden": [
        ("Garden Hose", 29.0),
        ("Pruning Shears", 22.5),
        ("Flower Seeds Mix", 4.99),
        ("Watering Can", 14.0),
        ("Compost Bin", 65.0),
    ],
    "Kitchen": [
        ("Chef's Knife", 79.0),
        ("Cast Iron Pan", 45.0),
        ("Coffee Grinder", 59.9),
        ("Cutting Board", 19.0),
        ("Espresso Cups", 24.0),
        ("Blender", 99.0),
    ],
    "Toys": [
        ("Building Blocks", 34.99),
        ("Puzzle 1000 Pieces", 17.5),
        ("Board Game", 29.99),
        ("Plush Bear", 14.99),
        ("Kite", 12.0),
    ],
}
FIRST = [
    "Ana",
    "Ben",
    "Chloe",
    "David",
    "Elena",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Keiko",
    "Liam",
    "Maya",
    "Noah",
    "Olga",
    "Pedro",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
]
LAST = [
    "Silva",
    "Meyer",
    "Dubois",
    "Rossi",
    "Novak",
    "Haddad",
    "Kim",
    "Larsen",
    "Costa",
    "Okafor",
    "Tanaka",
    "Walsh",
    "Garcia",
    "Nowak",
    "Fischer",
]
CITIES = [
    ("Lisbon", "Portugal"),
    ("Berlin", "Germany"),
    ("Paris", "France"),
    ("Madrid", "Spain"),
    ("Rome", "Italy"),
    ("Berlin", "Germany"),
    ("Munich", "Germany"),
    ("Lyon", "France"),
    ("Porto", "Portugal"),
    ("Vienna", "Austria"),
]
STATUSES = ["delivered"] * 6 + ["shipped"] * 2 + ["pending", "cancelled"]


def default_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "slmgraph" / "demo.sqlite"


def build_demo_db(path: str | Path | None = None, *, seed: int = 7) -> Path:
    """Write the demo database to ``path`` (replacing it) and return the path."""
    target = Path(path) if path is not None else default_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    rng = random.Random(seed)
    conn = sqlite3.connect(tmp)
    try:
        conn.executescript(SCHEMA)
        conn.executemany("INSERT INTO categories VALUES (?, ?)", list(enumerate(CATEGORIES, 1)))
        products: list[tuple[int, str, int, float, int]] = []
        for cat_id, cat in enumerate(CATEGORIES, 1):
            for name, price in PRODUCTS[cat]:
                products.append((len(products) + 1, name, cat_id, price, rng.randint(0, 120)))
        conn.executemany("INSERT INTO products VALUES (?, ?, ?, ?, ?)", products)
        customers: list[tuple[int, str, str, str, str, str]] = []
        used: set[str] = set()
        while len(customers) < 40:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first}.{last}@example.com".lower()
            if email in used:
                continue
            used.add(email)
            city, country = rng.choice(CITIES)
            joined = dt.date(2022, 1, 1) + dt.timedelta(days=rng.randint(0, 900))
            customers.append(
                (len(customers) + 1, f"{first} {last}", email, city, country, joined.isoformat())
            )
        conn.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)", customers)
        orders, items = [], []
        for order_id in range(1, 151):
            cust = rng.choice(customers)
            day = dt.date.fromisoformat(cust[5]) + dt.timedelta(days=rng.randint(1, 400))
            orders.append((order_id, cust[0], day.isoformat(), rng.choice(STATUSES)))
            for prod in rng.sample(products, rng.randint(1, 4)):
                items.append((order_id, prod[0], rng.randint(1, 3), prod[3]))
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", orders)
        conn.executemany("INSERT INTO order_items VALUES (?, ?, ?, ?)", items)
        conn.commit()
    finally:
        conn.close()
    tmp.replace(target)
    return target
