using System.Diagnostics;
using Qwen3Gen.Sampling;
using Qwen3Gen.Tokenization;
using Qwen3Gen.Models;

namespace Qwen3Gen.Inference;

/// <summary>
/// Streaming text generation over a KV-cached <see cref="IInferenceSession"/>: prefill the prompt, then sample one token at a
/// time and hand out the text as it completes.
/// <code>
///   var gen = new TextGeneration(model.CreateSession(capacity), new Sampler(vocab, sampling), tokenizer);
///   gen.Start(tokenizer.Encode(prompt), new GenerationOptions { MaxNewTokens = 200, StopStrings = ["\n\n"] });
///   while (gen.Next()) Console.Out.Write(gen.Piece);     // or: gen.Generate(ids, options, Console.Out)
///   Console.WriteLine($"{gen.Stats.DecodeTokensPerSecond:F1} tok/s, stopped by {gen.Stats.StopReason}");
/// </code>
/// Each step: copy the logits of the last position, <see cref="Sampler.Sample"/> a token, and then
/// <list type="bullet">
/// <item>a stop id (default: the tokenizer's end-of-sequence ids) ends the run; its text is not emitted;</item>
/// <item>otherwise the token goes to the run's <see cref="TextStream"/> (the one decode / stop-string path): decoded so a
///   character split across tokens comes out whole, thinking separated from the answer when
///   <see cref="GenerationOptions.SeparateThinking"/>, text that could be the start of a stop string held back until it is
///   not, and cut just before a stop string that completes;</item>
/// <item>the token is fed to the session lazily, at the start of the next step, so a piece reaches the caller before the next
///   forward pass and the last token of a run costs no forward pass. When the cache is full, a sliding window (an option)
///   empties it and prefills the last <see cref="GenerationOptions.WindowKeep"/> tokens, as nanoGPT crops to its block size.</item>
/// </list>
/// The pieces of one run concatenate to the tokenizer's Decode of the generated ids (without a stop id), cut before a stop string.
/// A chat (<see cref="ChatEngine"/>) runs the same loop with <see cref="GenerationOptions.SeparateThinking"/> (each piece's
/// <see cref="PieceKind"/> says thinking or answer) and <see cref="GenerationOptions.OnlyTokenizerIds"/>, so the model's
/// padding rows are never sampled.
/// Per token nothing is allocated with the byte-level tokenizer (the Qwen3 streaming decoder returns one string per token).
/// The session is this object's for the duration: it remembers which tokens are cached, so <see cref="Start"/> with
/// reusePrefix = true (a chat's next turn) prefills only what differs from the cached tokens. Not thread-safe.
/// </summary>
public sealed class TextGeneration
{
    private readonly IInferenceSession _session;
    private readonly ITokenSampler _sampler;
    private readonly ITokenizer _tokenizer;
    private readonly int[] _context;          // the tokens in the cache: _context[0.._contextLength) sit at positions 0..
    private int _contextLength;
    private float[] _logits = [];             // logits of the last fed position (the sampler edits them in place)
    private int[] _generated = new int[256];
    private int _generatedCount;
    private TextStream? _text;                 // the run's ids -> text; its Ready is the current Piece (kept across runs with equal options)
    private int _pieceLength;
    private GenerationOptions _options = new();
    private int[] _stopIds = [];
    private int _windowKeep;
    private int _pendingToken = -1;            // sampled and emitted, not yet in the cache
    private bool _started, _done;
    private StopReason _reason;
    private readonly Stopwatch _clock = new();
    private int _promptTokens, _reused, _prefilled, _slides, _decodeSteps;
    private TimeSpan _prefillTime, _decodeTime;

    public TextGeneration(IInferenceSession session, ITokenSampler sampler, ITokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(sampler);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (tokenizer.VocabSize > sampler.Vocab)
            throw new ArgumentException($"The tokenizer has {tokenizer.VocabSize} ids but the sampler (the model) only {sampler.Vocab}.", nameof(tokenizer));
        _session = session;
        _sampler = sampler;
        _tokenizer = tokenizer;
        _context = new int[session.Capacity];
    }

    public IInferenceSession Session => _session;

    public ITokenSampler Sampler => _sampler;

    public ITokenizer Tokenizer => _tokenizer;

    /// <summary>The text handed out by the last <see cref="Next"/> that returned true (valid until the next call).</summary>
    public ReadOnlySpan<char> Piece => _pieceLength > 0 ? _text!.Ready : default;

    /// <summary>Whether <see cref="Piece"/> is thinking or answer text (always answer without <see cref="GenerationOptions.SeparateThinking"/>).</summary>
    public ChatChunkKind PieceKind => _text?.ReadyKind ?? ChatChunkKind.Answer;

    /// <summary>The tokens sampled in this run, a final stop id included.</summary>
    public ReadOnlySpan<int> Generated => _generated.AsSpan(0, _generatedCount);

    /// <summary>The tokens in the session's cache, position by position (after a slide: the window).</summary>
    public ReadOnlySpan<int> CachedTokens => _context.AsSpan(0, _contextLength);

    /// <summary>Why the run ended (<see cref="StopReason.None"/> while it goes on).</summary>
    public StopReason StopReason => _reason;

    /// <summary>Counts and timings of the current run (decode time so far while it goes on).</summary>
    public GenerationStats Stats => new(_promptTokens, _reused, _generatedCount, _prefillTime,
        _done ? _decodeTime : _clock.Elapsed, _slides, _reason) { PrefilledTokens = _prefilled, DecodeSteps = _decodeSteps };

    /// <summary>
    /// Begins a run: prefills <paramref name="prompt"/> (at least one token) and gets the logits of its last position.
    /// reusePrefix = false empties the cache first; true keeps the longest cached prefix shared with the prompt
    /// (at most prompt length − 1, since the last prompt position must be run to get its logits).
    /// </summary>
    public void Start(ReadOnlySpan<int> prompt, GenerationOptions options, bool reusePrefix = false)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (prompt.IsEmpty) throw new ArgumentException("The prompt is empty: give at least one token.", nameof(prompt));
        int capacity = _session.Capacity;
        int keep = options.WindowKeep == 0 ? Math.Max(1, capacity * 3 / 4) : options.WindowKeep;
        if (keep > capacity) throw new ArgumentException($"WindowKeep ({options.WindowKeep}) exceeds the session's capacity ({capacity}).", nameof(options));
        var window = prompt;
        if (window.Length > capacity)
        {
            if (!options.SlidingWindow)
                throw new ArgumentException($"The prompt has {prompt.Length} tokens but the session holds {capacity}: shorten it or turn on SlidingWindow.", nameof(prompt));
            window = window[^capacity..];                               // nanoGPT: idx[:, -block_size:]
        }

        _options = options;
        _windowKeep = keep;
        _stopIds = [.. options.StopTokenIds ?? _tokenizer.EosIds];
        if (_text is not null && _text.SkipsSpecialTokens == options.SkipSpecialTokens && _text.SeparatesThinking == options.SeparateThinking &&
            _text.StopStrings.SequenceEqual(options.StopStrings.Where(s => !string.IsNullOrEmpty(s))))
            _text.Reset();                                              // reused: allocation-free runs; drops what an abandoned run held
        else
            _text = new TextStream(_tokenizer, options.SeparateThinking, options.StopStrings, options.SkipSpecialTokens);
        _pieceLength = 0;
        _generatedCount = 0;
        _pendingToken = -1;
        _reason = StopReason.None;
        _done = false;
        _slides = 0;
        _decodeSteps = 0;
        _decodeTime = TimeSpan.Zero;

        int reuse = 0;
        if (reusePrefix && _session.Position == _contextLength)
        {
            var cached = _context.AsSpan(0, _contextLength);
            reuse = Math.Min(cached.CommonPrefixLength(window), window.Length - 1);
        }
        _session.Rewind(reuse);
        _contextLength = reuse;                                         // in case Prefill throws (bad id): the cache holds [0, reuse)
        _clock.Restart();
        var logits = _session.Prefill(window[reuse..]);
        window[reuse..].CopyTo(_context.AsSpan(reuse));
        _contextLength = window.Length;
        TakeLogits(logits);
        _prefillTime = _clock.Elapsed;
        _promptTokens = prompt.Length;
        _reused = reuse;
        _prefilled = window.Length - reuse;

        _sampler.Reset();
        _sampler.AddContext(prompt);
        _started = true;
        _clock.Restart();
    }

    /// <summary>
    /// Generates until there is new text or the run ends. True: <see cref="Piece"/> holds the next piece of text.
    /// False: the run is over (<see cref="StopReason"/> says why); the last piece came with the previous true.
    /// </summary>
    public bool Next(CancellationToken cancellationToken = default)
    {
        if (!_started) throw new InvalidOperationException("Call Start before Next.");
        var text = _text!;
        if (_pieceLength > 0)
        {
            text.Consume();
            _pieceLength = 0;
        }
        while (true)
        {
            if (_reason != StopReason.None) return Finish();
            if (cancellationToken.IsCancellationRequested) { _reason = StopReason.Cancelled; continue; }
            if (_generatedCount >= _options.MaxNewTokens) { _reason = StopReason.MaxTokens; continue; }
            if (_pendingToken >= 0)
            {
                if (!Feed(_pendingToken)) { _reason = StopReason.ContextFull; continue; }
                _pendingToken = -1;
            }

            int id = _sampler.Sample(_logits);
            if (_generatedCount == _generated.Length) Array.Resize(ref _generated, _generated.Length * 2);
            _generated[_generatedCount++] = id;
            if (Array.IndexOf(_stopIds, id) >= 0) { _reason = StopReason.StopToken; continue; }
            _pendingToken = id;
            if (!text.Push(id)) _reason = StopReason.StopString;
            if (text.Ready.Length > 0)
            {
                _pieceLength = text.Ready.Length;
                return true;
            }
        }
    }

    /// <summary>Runs <see cref="Start"/> and <see cref="Next"/> to the end, writing each piece to <paramref name="output"/> (may be null).</summary>
    public GenerationStats Generate(ReadOnlySpan<int> prompt, GenerationOptions options, TextWriter? output,
                                    CancellationToken cancellationToken = default, bool reusePrefix = false)
    {
        Start(prompt, options, reusePrefix);
        while (Next(cancellationToken)) output?.Write(Piece);
        return Stats;
    }

    /// <summary>Generates and returns the whole text (the pieces joined) with the stats.</summary>
    public (string Text, GenerationStats Stats) GenerateText(ReadOnlySpan<int> prompt, GenerationOptions options,
                                                               CancellationToken cancellationToken = default)
    {
        var writer = new StringWriter();
        var stats = Generate(prompt, options, writer, cancellationToken);
        return (writer.ToString(), stats);
    }

    /// <summary>The pieces as a lazy sequence (one string each), e.g. to wrap in an async stream.</summary>
    public IEnumerable<string> Stream(int[] prompt, GenerationOptions options, bool reusePrefix = false,
                                      CancellationToken cancellationToken = default)
    {
        Start(prompt, options, reusePrefix);
        while (Next(cancellationToken)) yield return Piece.ToString();
    }

    /// <summary>Forgets the cache: the next <see cref="Start"/> prefills its whole prompt.</summary>
    public void ClearCache()
    {
        _contextLength = 0;
        _session.Rewind(0);
    }

    // Puts token id at the next position: Decode, or when the cache is full and the window slides, rewind to 0 and
    // prefill the last WindowKeep − 1 cached tokens followed by id. False when the cache is full and sliding is off.
    private bool Feed(int id)
    {
        if (_contextLength < _session.Capacity)
        {
            _context[_contextLength++] = id;
            TakeLogits(_session.Decode(id));
            _decodeSteps++;
            return true;
        }
        if (!_options.SlidingWindow) return false;
        int keep = _windowKeep;
        _context.AsSpan(_contextLength - (keep - 1), keep - 1).CopyTo(_context);
        _context[keep - 1] = id;
        _contextLength = keep;
        _session.Rewind(0);
        TakeLogits(_session.Prefill(_context.AsSpan(0, keep)));
        _slides++;
        _decodeSteps++;
        return true;
    }

    private void TakeLogits(ReadOnlySpan<float> logits)
    {
        if (_logits.Length != logits.Length)
        {
            if (logits.Length != _sampler.Count)
                throw new InvalidOperationException($"The model gives {logits.Length} logits but the sampler was made for {_sampler.Count} (ids {_sampler.Start}..).");
            _logits = new float[logits.Length];
        }
        logits.CopyTo(_logits);
        // Ids past the tokenizer's vocabulary are the embedding's padding rows (151,669..151,935 for Qwen3): they have no
        // text and a trained model never picks them; masked, an untrained one cannot either. (The logits are those of ids
        // Start.. : a tensor-parallel rank holds one part of the row.)
        int firstPadding = _tokenizer.VocabSize - _sampler.Start;
        if (_options.OnlyTokenizerIds && firstPadding < _logits.Length)
            _logits.AsSpan(Math.Max(0, firstPadding)).Fill(float.NegativeInfinity);
    }

    // The run is over: the text stream flushes what it held back (unless a stop string already cut the text; the flush may
    // complete one), and whatever text is left is the last piece.
    private bool Finish()
    {
        if (!_done)
        {
            _done = true;
            _decodeTime = _clock.Elapsed;
            var text = _text!;
            if (_reason != StopReason.StopString)
            {
                text.Finish();
                if (text.Stopped) _reason = StopReason.StopString;
            }
            _pieceLength = text.Ready.Length;
            if (_pieceLength > 0) return true;
        }
        return false;
    }
}
