"""Starts moto server (the local AWS emulator the tests run against) with two fixes to its
DynamoDB transactions. Usage: python scripts/moto_server.py -H 127.0.0.1 -p PORT

1. Isolation. moto server answers on several threads, and a TransactWriteItems there applies
   its operations one by one and, if one fails, puts back a copy of the whole table taken
   before: a concurrent request's write can be lost by that put-back, or see a half-applied
   transaction. DynamoDB transactions are atomic and isolated, and the tests rely on that (many
   workers ingest into the same customers at once), so here every DynamoDB request runs under
   one lock.
2. Cost. That copy is a deep copy of the table, taken once per operation of the transaction,
   so each transaction costs time proportional to the table (and its stream): ingesting ten
   thousand events would take hours. Here a transaction instead remembers the items it
   touches and, if it fails, restores only those, which is what the copy achieved. Likewise
   every Query first sorts every item of the table; here a query on the table reads only its
   partition, and a query on an index skips that first sort (moto sorts the matches itself).

Nothing else of moto changes: requests, conditions, indexes and errors are moto's own.
"""

import copy
import threading

import moto.dynamodb.models as dynamodb_models
from moto import server
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

_LOCK = threading.RLock()

_call_action = DynamoHandler.call_action


def _serialised_call_action(self):
    with _LOCK:
        return _call_action(self)


class _NoTableCopy:
    """Stands in for the `copy` module inside moto's transaction code, so its whole-table
    backups are the tables themselves (free); the item-level undo below replaces them."""

    @staticmethod
    def deepcopy(value, memo=None):
        return value


_transact_write_items = DynamoDBBackend.transact_write_items


def _key_of(table, attributes):
    hash_key = DynamoType(attributes[table.hash_key_attr])
    range_key = None
    if table.range_key_attr is not None:
        range_key = DynamoType(attributes[table.range_key_attr])
    return hash_key, range_key


def _restore(table, hash_key, range_key, item):
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
        return
    if item is None:
        table.items.get(hash_key, {}).pop(range_key, None)
    else:
        table.items[hash_key][range_key] = item


def _transact_write_items_with_item_undo(self, transact_items):
    undo = []
    for entry in transact_items:
        op_type, op = next(iter(entry.items()))
        table = self.tables.get(op.get("TableName"))
        attributes = op.get("Item") if op_type == "Put" else op.get("Key")
        if table is None or not attributes:
            continue
        try:
            hash_key, range_key = _key_of(table, attributes)
        except KeyError:
            continue  # moto reports the missing key itself
        undo.append(
            (table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key)))
        )
    dynamodb_models.copy = _NoTableCopy
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        for table, hash_key, range_key, item in reversed(undo):
            _restore(table, hash_key, range_key, item)
        raise
    finally:
        dynamodb_models.copy = copy


_all_items = Table.all_items
_query = Table.query
_scope = threading.local()
_EVERY_ITEM = object()


def _items_in_scope(self):
    partition = getattr(_scope, "partition", None)
    if partition is None:
        return _all_items(self)
    if partition is _EVERY_ITEM:
        return [
            item
            for entry in self.items.values()
            for item in (entry.values() if self.range_key_attr else [entry])
        ]
    entry = self.items.get(partition)
    if entry is None:
        return []
    return list(entry.values()) if self.range_key_attr else [entry]


def _query_in_scope(self, hash_key, *args, **kwargs):
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    _scope.partition = _EVERY_ITEM if index_name or hash_key is None else hash_key
    try:
        return _query(self, hash_key, *args, **kwargs)
    finally:
        _scope.partition = None


DynamoHandler.call_action = _serialised_call_action
Table.all_items = _items_in_scope
Table.query = _query_in_scope
DynamoDBBackend.transact_write_items = _transact_write_items_with_item_undo

if __name__ == "__main__":
    server.main()
