"""FastV's ranking (framework-free, shared by the torch and mlx implementations): the question's attention decides."""

import numpy as np

from trio_opt_fastv.ranking import attention_received, tokens_to_keep


def test_ranking_follows_the_attention_of_the_question_rows():
    keys = np.random.default_rng(0).standard_normal((1, 1, 6, 8)).astype(np.float32) * 0.1
    keys[0, 0, 3] = 2.0  # key 3 matches the query
    queries = np.ones((1, 2, 1, 8), dtype=np.float32)  # two query heads share the one key head
    received = attention_received(queries, keys, rows=np.array([5]))[0]
    assert int(received.argmax()) == 3 and np.isclose(received.sum(), 1.0)
    # A row never attends to a key after it.
    early = attention_received(queries, keys, rows=np.array([2]))[0]
    assert np.all(early[3:] == 0)
    visual = np.array([1, 2, 3, 4])
    keep = tokens_to_keep(received, visual, drop=0.5)
    most = visual[np.argsort(-received[visual])[:2]].tolist()  # the two visual keys attended most
    assert 3 in most and keep.tolist() == sorted([0, 5, *most])
    assert tokens_to_keep(received, visual, drop=0.0).tolist() == list(range(6))


def test_rows_average_over_heads_and_rows():
    keys = np.zeros((1, 2, 4, 2), dtype=np.float32)
    keys[0, 0, 1] = (5, 0)  # kv head 0 favours key 1
    keys[0, 1, 2] = (0, 5)  # kv head 1 favours key 2
    queries = np.array([[[[1, 0]], [[0, 1]]]], dtype=np.float32)  # head 0 asks along x, head 1 along y
    received = attention_received(queries, keys, rows=np.array([3]))[0]
    assert received[1] == received[2] > received[0] and np.isclose(received.sum(), 1.0)
