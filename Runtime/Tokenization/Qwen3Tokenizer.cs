using System.Buffers;
using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.ML.Tokenizers;
using Qwen3Gen.Tokenization.Unicode;

namespace Qwen3Gen.Tokenization;

/// <summary>
/// The Qwen3 tokenizer, id for id the same as Hugging Face's <c>tokenizers</c>:
/// added tokens first (all 26, special or not) → NFC between them → Qwen's split regex over code
/// points → byte-level BPE. No BOS/EOS is added. See docs/tokenizer.md.
/// </summary>
/// <remarks>
/// Encode cuts the added tokens, NFC-normalises each piece between them (one vectorised scan when
/// it is already stable, e.g. all of Latin-1), splits it with <see cref="Qwen3Split"/> and looks each
/// pre-token up in a bounded, thread-safe pre-token → ids cache. A miss runs BPE in
/// Microsoft.ML.Tokenizers' <see cref="TiktokenTokenizer"/> over a tiktoken-format table built from
/// vocab.json (rank = id; equivalent to merges.txt ranks because merge i creates id 256 + i, checked
/// at load). Its merge loop is quadratic in the pre-token length, so pre-tokens longer than
/// <see cref="MaxTiktokenPiece"/> go to <see cref="Qwen3Bpe"/> (exact, O(n log n)), as does
/// everything when the vocabulary is not merge-ordered.
/// </remarks>
public sealed class Qwen3Tokenizer : ITokenizer
{
    /// <summary>Half of <see cref="MaxTiktokenPiece"/> (kept for callers; no longer used to route text).</summary>
    public const int MaxTiktokenRun = 128;

    /// <summary>Pre-tokens longer than this (in UTF-16 chars) go to <see cref="Qwen3Bpe"/>, not Tiktoken.</summary>
    public const int MaxTiktokenPiece = 2 * MaxTiktokenRun + 1;

    readonly TiktokenTokenizer? _tiktoken;
    readonly Qwen3Bpe _bpe;
    readonly AddedTokens _added;
    readonly byte[][] _tokenBytes;          // id -> bytes it decodes to (added tokens: their UTF-8 text)
    readonly bool[] _special;               // id -> special=true (dropped by skip_special_tokens)
    readonly Dictionary<string, int> _addedIds;
    readonly int[] _eosIds;

    Qwen3Tokenizer(Dictionary<string, int> vocab, List<(string Left, string Right)> merges,
                   IReadOnlyList<Qwen3TokenizerFiles.AddedToken> added, string? eosToken, bool useTiktoken)
    {
        int maxId = -1;
        foreach (int id in vocab.Values) maxId = Math.Max(maxId, id);
        foreach (var a in added) maxId = Math.Max(maxId, a.Id);
        VocabSize = maxId + 1;
        _tokenBytes = new byte[VocabSize][];
        _special = new bool[VocabSize];
        foreach (var (token, id) in vocab)
        {
            if (id < 0) throw new InvalidDataException($"vocab: token '{token}' has negative id {id}.");
            if (_tokenBytes[id] is not null) throw new InvalidDataException($"vocab: token '{token}' has id {id}, which another token has too.");
            _tokenBytes[id] = ByteLevel.TokenBytes(token);
        }

        // Byte-level base alphabet: every byte must be a token of its own.
        var byteIds = new int[256];
        for (int b = 0; b < 256; b++)
            if (!vocab.TryGetValue(ByteLevel.ByteToChar[b].ToString(), out byteIds[b]))
                throw new InvalidDataException($"vocab has no token for byte 0x{b:X2} ('{ByteLevel.ByteToChar[b]}'): not a byte-level BPE vocabulary.");

        var mergeTable = new Dictionary<long, long>(merges.Count, Qwen3Bpe.PairComparer.Instance);
        bool mergeOrdered = vocab.Count == 256 + merges.Count;
        for (int b = 0; b < 256 && mergeOrdered; b++) mergeOrdered = byteIds[b] < 256;
        for (int i = 0; i < merges.Count; i++)
        {
            var (l, r) = merges[i];
            if (!vocab.TryGetValue(l, out int left) || !vocab.TryGetValue(r, out int right))
                throw new InvalidDataException($"merges line {i + 1}: '{l} {r}' uses a token missing from the vocabulary.");
            if (!vocab.TryGetValue(l + r, out int merged))
                throw new InvalidDataException($"merges line {i + 1}: '{l} {r}' makes '{l + r}', which is missing from the vocabulary.");
            mergeTable.TryAdd(((long)left << 32) | (uint)right, ((long)i << 32) | (uint)merged);
            mergeOrdered &= merged == 256 + i;
        }
        _bpe = new Qwen3Bpe(byteIds, mergeTable);
        _cacheBySpan = _cache.GetAlternateLookup<ReadOnlySpan<char>>();

        _addedIds = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var a in added)
        {
            _tokenBytes[a.Id] = Encoding.UTF8.GetBytes(a.Content);
            _special[a.Id] = a.Special;
            _addedIds[a.Content] = a.Id;
        }
        _added = new AddedTokens(added.Select(a => (a.Content, a.Id)).ToList());
        AddedTokenCount = added.Count;

        ImStartId = AddedId("<|im_start|>");
        ImEndId = AddedId("<|im_end|>");
        EndOfTextId = AddedId("<|endoftext|>");
        ThinkId = AddedId("<think>");
        ThinkEndId = AddedId("</think>");
        var eos = new List<int>();
        if (eosToken is not null && _addedIds.TryGetValue(eosToken, out int eosId)) eos.Add(eosId);
        if (ImEndId >= 0 && !eos.Contains(ImEndId)) eos.Add(ImEndId);
        if (EndOfTextId >= 0 && !eos.Contains(EndOfTextId)) eos.Add(EndOfTextId);
        _eosIds = eos.ToArray();

        UsesTiktoken = useTiktoken && mergeOrdered;
        if (UsesTiktoken)
        {
            using var table = TiktokenTable(_tokenBytes, vocab.Count);
            var specials = added.ToDictionary(a => a.Content, a => a.Id, StringComparer.Ordinal);
            _tiktoken = TiktokenTokenizer.Create(table, new Qwen3PreTokenizer(_added), new Qwen3Normalizer(_added), specials);
        }
    }

    // ---- loading ----

    static readonly Lazy<Qwen3Tokenizer> SharedBundled = new(() => LoadBundled());

    /// <summary>One shared instance of the bundled tokenizer (loading takes about half a second).</summary>
    public static Qwen3Tokenizer Bundled => SharedBundled.Value;

    /// <summary>Loads the Qwen3 tokenizer files embedded in this assembly (see Runtime/Tokenization/qwen3/NOTICE.md).</summary>
    public static Qwen3Tokenizer LoadBundled(bool useTiktoken = true)
    {
        var f = Qwen3TokenizerFiles.ReadBundled();
        return new Qwen3Tokenizer(f.Vocab, f.Merges, f.Added, f.EosToken, useTiktoken);
    }

    /// <summary>
    /// Loads from a model directory: tokenizer.json, or vocab.json + merges.txt; plus
    /// tokenizer_config.json for the added tokens and their special flags (required without tokenizer.json).
    /// </summary>
    public static Qwen3Tokenizer Load(string directory, bool useTiktoken = true)
    {
        var f = Qwen3TokenizerFiles.ReadDirectory(directory);
        try { return new Qwen3Tokenizer(f.Vocab, f.Merges, f.Added, f.EosToken, useTiktoken); }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or InvalidOperationException or KeyNotFoundException)
        {
            // The files parse but do not make a tokenizer (a merge of unknown tokens, a missing byte token, ...).
            throw new InvalidDataException($"The tokenizer files in '{Path.GetFullPath(directory)}' do not make a byte-level BPE tokenizer: {e.Message}", e);
        }
    }

    // A ".tiktoken" file: "base64(token bytes) rank" per line, rank = id.
    static MemoryStream TiktokenTable(byte[][] tokenBytes, int count)
    {
        var ms = new MemoryStream(count * 16);
        var line = new byte[1024];
        for (int id = 0; id < count; id++)
        {
            byte[] bytes = tokenBytes[id];
            int need = (bytes.Length + 2) / 3 * 4 + 16;
            if (line.Length < need) line = new byte[need];
            Base64.EncodeToUtf8(bytes, line, out _, out int written);
            line[written++] = (byte)' ';
            id.TryFormat(line.AsSpan(written), out int digits);
            written += digits;
            line[written++] = (byte)'\n';
            ms.Write(line, 0, written);
        }
        ms.Position = 0;
        return ms;
    }

    int AddedId(string content) => _addedIds.TryGetValue(content, out int id) ? id : -1;

    // ---- properties ----

    /// <summary>Highest token id + 1 (151,669 for Qwen3; the models' embedding has 151,936 rows).</summary>
    public int VocabSize { get; }

    /// <summary>Ids that end a reply: eos_token of tokenizer_config.json (&lt;|im_end|&gt;) and &lt;|endoftext|&gt;.</summary>
    public IReadOnlyList<int> EosIds => _eosIds;

    public int AddedTokenCount { get; }
    public int ImStartId { get; }
    public int ImEndId { get; }
    public int EndOfTextId { get; }
    public int ThinkId { get; }
    public int ThinkEndId { get; }

    /// <summary>Whether BPE runs in Microsoft.ML.Tokenizers' TiktokenTokenizer (else only in <see cref="Qwen3Bpe"/>).</summary>
    public bool UsesTiktoken { get; }

    /// <summary>True for added tokens marked special (the 14 &lt;|...|&gt; control tokens, not &lt;think&gt; or &lt;tool_call&gt;).</summary>
    public bool IsSpecial(int id) => (uint)id < (uint)_special.Length && _special[id];

    /// <summary>The id of an added token such as "&lt;think&gt;", or -1.</summary>
    public int GetAddedTokenId(string content) => AddedId(content);

    // ---- encoding ----

    /// <summary>Pre-tokens up to this many chars are cached (ids per pre-token string).</summary>
    const int MaxCachedPreToken = 48;

    /// <summary>Cache entries at most (~10-20 MB when full); later new pre-tokens are encoded uncached.</summary>
    const int MaxCacheEntries = 1 << 17;

    // Pre-token (after NFC) -> its ids. Concurrent because Bundled is shared across threads; looked
    // up by span so a hit allocates nothing. Filled from the same BPE as a miss, so it cannot change ids.
    readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheBySpan;
    int _cacheCount;

    /// <summary>Token ids of <paramref name="text"/>; added tokens in the text are recognised. No BOS/EOS.</summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0) return [];
        // About 3.7 chars per token on English prose; List grows if not.
        var ids = new List<int>(text.Length / 3 + 16);
        // Added tokens are cut out here, not left to Tiktoken: it keeps its special tokens in its
        // LRU cache, and once 8192 other pre-tokens have evicted them it BPE-encodes
        // "<|im_end|>" as plain text (Microsoft.ML.Tokenizers 2.0.1).
        int pos = 0;
        while (pos < text.Length)
        {
            int at = _added.Find(text, pos, out int length, out int addedId);
            int pieceEnd = at < 0 ? text.Length : at;
            if (pieceEnd > pos) EncodePiece(text.AsSpan(pos, pieceEnd - pos), ids);
            if (at < 0) break;
            ids.Add(addedId);
            pos = at + length;
        }
        return ids.ToArray();
    }

    /// <summary>Number of tokens <see cref="Encode"/> would return.</summary>
    public int CountTokens(string text) => Encode(text).Length;

    // One piece between added tokens: NFC (skipped after one vectorised scan when the piece is
    // already NFC-stable, e.g. all of Latin-1), Qwen's split, then each pre-token's ids.
    void EncodePiece(ReadOnlySpan<char> piece, List<int> ids)
    {
        if (!Nfc.IsNormalizedFast(piece)) piece = Nfc.Normalize(piece);
        byte[]? buffer = null;
        for (int i = 0; i < piece.Length;)
        {
            int end = Qwen3Split.Next(piece, i);
            var preToken = piece[i..end];
            char c = preToken[0];
            if (preToken.Length == 1 && c < 128) ids.Add(_bpe.ByteId(c));            // one byte: its own token
            else if (preToken.Length <= MaxCachedPreToken) AddCached(preToken, ids);
            else EncodePreToken(preToken, ids, ref buffer);
            i = end;
        }
    }

    void AddCached(ReadOnlySpan<char> preToken, List<int> ids)
    {
        if (!_cacheBySpan.TryGetValue(preToken, out int[]? cached))
        {
            int start = ids.Count;
            byte[]? buffer = null;
            EncodePreToken(preToken, ids, ref buffer);
            if (_cacheCount >= MaxCacheEntries) return;
            cached = CollectionsMarshal.AsSpan(ids)[start..].ToArray();
            if (_cacheBySpan.TryAdd(preToken, cached)) Interlocked.Increment(ref _cacheCount);
            return;
        }
        if (cached.Length == 1) ids.Add(cached[0]);
        else ids.AddRange(cached);
    }

    // BPE of one pre-token: Tiktoken up to MaxTiktokenPiece chars (its merge loop is quadratic),
    // Qwen3Bpe beyond that or when the vocabulary is not merge-ordered.
    void EncodePreToken(ReadOnlySpan<char> preToken, List<int> ids, ref byte[]? buffer)
    {
        if (_tiktoken is not null && preToken.Length <= MaxTiktokenPiece)
        {
            ids.AddRange(_tiktoken.EncodeToIds(preToken, considerPreTokenization: false, considerNormalization: false));
            return;
        }
        int max = Encoding.UTF8.GetMaxByteCount(preToken.Length);
        if (buffer is null || buffer.Length < max) buffer = new byte[max];
        int n = Encoding.UTF8.GetBytes(preToken, buffer);
        _bpe.Encode(buffer.AsSpan(0, n), ids);
    }

    /// <summary>BPE of one pre-token with <see cref="Qwen3Bpe"/> (Hugging Face's merge semantics), for cross-checks.</summary>
    internal void EncodePreTokenWithBpe(ReadOnlySpan<byte> utf8, List<int> ids) => _bpe.Encode(utf8, ids);

    // ---- decoding ----

    /// <summary>Text of <paramref name="ids"/>; invalid UTF-8 becomes U+FFFD as in Hugging Face.</summary>
    public string Decode(ReadOnlySpan<int> ids) => Decode(ids, skipSpecialTokens: false);

    /// <summary>True when <paramref name="id"/> is the id of a token (ids in the gaps of the vocabulary have none).</summary>
    public bool HasToken(int id) => (uint)id < (uint)VocabSize && _tokenBytes[id] is not null;

    /// <summary>How many ids have a token.</summary>
    public int TokenCount => _tokenBytes.Count(t => t is not null);

    /// <summary>
    /// Text of <paramref name="ids"/>. <paramref name="skipSpecialTokens"/> drops only the special
    /// added tokens (&lt;|im_end|&gt; ...), keeping &lt;think&gt;, &lt;tool_call&gt; and the like, as
    /// Hugging Face's skip_special_tokens does. Ids with no token (151,669..151,935 in the models'
    /// embedding) decode to nothing, also as in Hugging Face; negative ids throw.
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens)
    {
        int total = 0;
        foreach (int id in ids) total += TokenBytesOrEmpty(id, skipSpecialTokens).Length;
        byte[] rented = ArrayPool<byte>.Shared.Rent(Math.Max(total, 1));
        try
        {
            int n = 0;
            foreach (int id in ids)
            {
                var b = TokenBytesOrEmpty(id, skipSpecialTokens);
                b.CopyTo(rented.AsSpan(n));
                n += b.Length;
            }
            return Encoding.UTF8.GetString(rented, 0, n);
        }
        finally { ArrayPool<byte>.Shared.Return(rented); }
    }

    /// <summary>The raw bytes of one token (empty for skipped or unknown ids).</summary>
    internal ReadOnlySpan<byte> TokenBytesOrEmpty(int id, bool skipSpecialTokens)
    {
        if (id < 0) throw new ArgumentOutOfRangeException(nameof(id), id, "Token ids are non-negative.");
        if (id >= _tokenBytes.Length) return default;
        if (skipSpecialTokens && _special[id]) return default;
        return _tokenBytes[id] ?? default;
    }

    /// <summary>A decoder for streaming generation that only ever emits complete characters.</summary>
    public StreamingDecoder CreateStreamingDecoder(bool skipSpecialTokens = false) => new(this, skipSpecialTokens);
}
