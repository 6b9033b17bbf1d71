namespace Qwen3Gen.Tokenization;

/// <summary>
/// Byte-level BPE with Hugging Face's semantics: repeatedly merge the adjacent pair whose merge
/// (merges.txt line) has the lowest rank, leftmost first on ties; a pair merges only if it is a
/// listed merge. O(n log n) with a heap and a linked list, so long pre-tokens stay cheap
/// (Microsoft.ML.Tokenizers' Tiktoken merge loop is quadratic: 100k letters take seconds).
/// </summary>
internal sealed class Qwen3Bpe
{
    readonly int[] _byteIds;                                   // byte value -> token id
    readonly Dictionary<long, long> _merges;                   // (left id, right id) -> (rank << 32) | merged id

    public Qwen3Bpe(int[] byteIds, Dictionary<long, long> merges)
    {
        _byteIds = byteIds;
        _merges = merges;
    }

    public int MergeCount => _merges.Count;

    /// <summary>The token of one byte (a one-byte pre-token never merges).</summary>
    public int ByteId(int b) => _byteIds[b];

    /// <summary>Hashes a (left, right) key well: long's own hash is left ^ right, which sends every
    /// (x, x) pair to bucket 0 and made a 200k-letter pre-token take seconds.</summary>
    internal sealed class PairComparer : IEqualityComparer<long>
    {
        public static readonly PairComparer Instance = new();
        public bool Equals(long a, long b) => a == b;
        public int GetHashCode(long key) => (int)((ulong)key * 0x9E3779B97F4A7C15UL >> 32);
    }

    static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    /// <summary>Appends the ids of one pre-token's UTF-8 bytes to <paramref name="ids"/>.</summary>
    public void Encode(ReadOnlySpan<byte> bytes, List<int> ids)
    {
        int n = bytes.Length;
        if (n == 0) return;
        if (n == 1) { ids.Add(_byteIds[bytes[0]]); return; }

        var sym = new int[n];
        var next = new int[n];
        var prev = new int[n];
        for (int i = 0; i < n; i++) { sym[i] = _byteIds[bytes[i]]; next[i] = i + 1; prev[i] = i - 1; }
        next[n - 1] = -1;

        // Heap of candidate merges ordered by (rank, position); stale entries are skipped on pop.
        var heap = new PriorityQueue<int, long>(n);
        for (int i = 0; i + 1 < n; i++) Push(heap, sym, i, i + 1);

        while (heap.TryDequeue(out int pos, out long priority))
        {
            int right = next[pos];
            if (sym[pos] < 0 || right < 0) continue;                       // merged away, or now last
            if (!_merges.TryGetValue(Key(sym[pos], sym[right]), out long m)) continue;
            if ((int)(m >> 32) != (int)(priority >> 32)) continue;          // pair changed since pushed
            sym[pos] = (int)m;
            sym[right] = -1;
            int after = next[right];
            next[pos] = after;
            if (after >= 0) prev[after] = pos;
            if (prev[pos] >= 0) Push(heap, sym, prev[pos], pos);
            if (after >= 0) Push(heap, sym, pos, after);
        }
        for (int i = 0; i >= 0; i = next[i]) ids.Add(sym[i]);
    }

    void Push(PriorityQueue<int, long> heap, int[] sym, int left, int right)
    {
        if (_merges.TryGetValue(Key(sym[left], sym[right]), out long m))
            heap.Enqueue(left, (m & ~0xFFFFFFFFL) | (uint)left);
    }
}
