using Qwen3Gen.Inference;
using Qwen3Gen.Sampling;
using Qwen3Gen.Tokenization;
using Qwen3Gen.Models;

namespace Qwen3Gen.Serving;

/// <summary>
/// Continuous batching over one model: requests join and leave the running batch at any step. One thread owns the
/// model and loops:
/// <list type="number">
/// <item>admit waiting requests into free cache slots (the slot whose cached tokens share the longest prefix with the
/// prompt, as llama-server's prompt cache does, so a repeated system prompt or a growing conversation is not run
/// again);</item>
/// <item>drop cancelled requests (a client that went away): the slot is free for the next request at once;</item>
/// <item>one decode step for every sequence that has a token to feed: one forward pass whose rows are those
/// sequences (each weight matrix read once), each row at its own position in its own slot, then each sequence's
/// own sampler picks its next token;</item>
/// <item>one prefill chunk (<see cref="BatchEngineOptions.PrefillChunk"/> tokens) of the oldest request still
/// reading its prompt, so a long prompt delays the running streams by one chunk per token, not by the whole prompt
/// (decode first, then a bounded prefill, as vLLM's chunked-prefill scheduler).</item>
/// </list>
/// A request's tokens do not depend on the others: its logits are bit-identical alone or in a batch
/// (<see cref="IBatchSession"/>), its prompt is cut into the same chunks whatever prefix is reused (the reuse is
/// rounded down to a multiple of the chunk), and its sampler is its own.
/// </summary>
public sealed class BatchEngine : IDisposable
{
    private readonly IQwen3Model _model;
    private readonly Qwen3Tokenizer _tokenizer;
    private readonly int[] _stopIds;
    private readonly IBatchSession _session;
    private readonly Slot[] _slots;
    private readonly Queue<Pending> _waiting = new();
    private readonly object _lock = new();
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly Thread _thread;
    private readonly int[] _rowSlots, _rowTokens;
    private volatile bool _stopping;
    private int _freeSlots;
    private long _clock;

    /// <param name="model">A model with its weights filled.</param>
    /// <param name="tokenizer">The model's tokenizer.</param>
    /// <param name="stopIds">Ids that end a reply; default the tokenizer's (&lt;|im_end|&gt;, &lt;|endoftext|&gt;).</param>
    /// <param name="options">Slots, context per slot, prefill chunk, queue length.</param>
    public BatchEngine(IQwen3Model model, Qwen3Tokenizer tokenizer, IEnumerable<int>? stopIds = null, BatchEngineOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        Options = options ?? new BatchEngineOptions();
        Options.Validate(model.Config.MaxPositions);
        int vocab = model.Config.Vocab;
        if (tokenizer.VocabSize > vocab)
            throw new ArgumentException($"The tokenizer has {tokenizer.VocabSize} ids but the model's vocabulary is {vocab}: they do not belong together.", nameof(tokenizer));
        _model = model;
        _tokenizer = tokenizer;
        _stopIds = (stopIds ?? tokenizer.EosIds).Distinct().ToArray();
        foreach (int id in _stopIds)
            if ((uint)id >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(stopIds), id, $"Stop id {id} is outside the vocabulary [0, {vocab}).");
        _session = model.CreateBatchSession(Options.Sequences, Options.Context, Options.PrefillChunk);
        _slots = new Slot[Options.Sequences];
        for (int i = 0; i < _slots.Length; i++) _slots[i] = new Slot(i, vocab, Options.Context);
        _freeSlots = _slots.Length;
        _rowSlots = new int[_slots.Length];
        _rowTokens = new int[_slots.Length];
        _thread = new Thread(Loop) { IsBackground = true, Name = "qwen3gen-batch" };
        _thread.Start();
    }

    public BatchEngineOptions Options { get; }

    public IQwen3Model Model => _model;

    public Qwen3Tokenizer Tokenizer => _tokenizer;

    public IReadOnlyList<int> StopIds => _stopIds;

    /// <summary>Requests holding a slot now (prefilling or decoding).</summary>
    public int Running { get { lock (_lock) return _slots.Length - _freeSlots; } }

    /// <summary>Requests waiting for a slot.</summary>
    public int Queued { get { lock (_lock) return _waiting.Count; } }

    /// <summary>Decode steps run so far, and the sequences they carried (their ratio is the mean batch).</summary>
    public long DecodeSteps => Interlocked.Read(ref _decodeSteps);
    public long DecodedTokens => Interlocked.Read(ref _decodedTokens);
    private long _decodeSteps, _decodedTokens;

    /// <summary>
    /// Queues a request. Throws <see cref="ArgumentException"/> for a bad request (empty prompt, an id outside the
    /// vocabulary, a prompt that leaves no room in a slot, bad sampling options) and <see cref="EngineBusyException"/>
    /// when every slot is busy and <see cref="BatchEngineOptions.MaxQueue"/> requests already wait.
    /// </summary>
    public GenerationHandle Submit(GenerationJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        ObjectDisposedException.ThrowIf(_stopping, this);
        if (job.Prompt is null || job.Prompt.Length == 0) throw new ArgumentException("The prompt is empty: give at least one token.");
        if (job.Prompt.Length >= Options.Context)
            throw new ArgumentException($"The prompt has {job.Prompt.Length} tokens but a sequence holds at most {Options.Context} (prompt + reply): no room for a reply.");
        int vocab = _model.Config.Vocab;
        foreach (int id in job.Prompt)
            if ((uint)id >= (uint)vocab) throw new ArgumentException($"Token id {id} is outside the vocabulary [0, {vocab}).");
        if (job.MaxTokens < 1) throw new ArgumentException($"max_tokens ({job.MaxTokens}) must be at least 1.");
        ArgumentNullException.ThrowIfNull(job.Sampling);
        job.Sampling.Validate();

        var pending = new Pending(job, new GenerationHandle());
        lock (_lock)
        {
            if (_waiting.Count >= _freeSlots + Options.MaxQueue)
                throw new EngineBusyException($"The server is busy: {_slots.Length} sequences are running and {_waiting.Count - _freeSlots} requests wait (the queue holds {Options.MaxQueue}). Retry later.");
            _waiting.Enqueue(pending);
        }
        if (job.Cancellation.CanBeCanceled) pending.Registration = job.Cancellation.Register(static w => ((ManualResetEventSlim)w!).Set(), _wake);
        _wake.Set();
        return pending.Handle;
    }

    // ---------------------------------------------------------------- the loop (engine thread only)

    private void Loop()
    {
        while (!_stopping)
        {
            _wake.Reset();
            bool worked;
            try
            {
                Admit();
                DropCancelled();
                worked = DecodeStep() | PrefillStep();
            }
            catch (Exception e)
            {
                // A failure inside the model (never expected) ends the requests in flight, not the server.
                foreach (var slot in _slots)
                    if (slot.Request is { } p) { p.Handle.Fail(e); Release(slot, keepCache: false); }
                worked = true;
            }
            if (!worked) _wake.Wait(TimeSpan.FromSeconds(1));
        }
        var stopped = new ObjectDisposedException(nameof(BatchEngine), "The engine was shut down.");
        foreach (var slot in _slots)
            if (slot.Request is { } p) p.Handle.Fail(stopped);
        lock (_lock)
            while (_waiting.TryDequeue(out var p)) p.Handle.Fail(stopped);
    }

    private void Admit()
    {
        while (true)
        {
            Pending? next;
            lock (_lock)
            {
                if (_freeSlots == 0 || !_waiting.TryDequeue(out next)) return;
                _freeSlots--;
            }
            if (next.Job.Cancellation.IsCancellationRequested)
            {
                lock (_lock) _freeSlots++;
                Finish(next, null, FinishReason.Cancelled);
                continue;
            }
            Start(PickSlot(next.Job.Prompt), next);
        }
    }

    /// <summary>The free slot whose cache shares the longest usable prefix with the prompt; on a tie the least recently used.</summary>
    private Slot PickSlot(int[] prompt)
    {
        Slot? best = null;
        int bestReuse = -1;
        foreach (var slot in _slots)
        {
            if (slot.Request is not null) continue;
            int reuse = Reusable(slot, prompt);
            if (reuse > bestReuse || (reuse == bestReuse && slot.LastUsed < best!.LastUsed)) { best = slot; bestReuse = reuse; }
        }
        return best!;
    }

    /// <summary>Cached positions a prompt can keep: the common prefix, leaving the last prompt token to run, rounded down to whole chunks.</summary>
    private int Reusable(Slot slot, int[] prompt)
    {
        int common = slot.History.AsSpan(0, slot.Length).CommonPrefixLength(prompt);
        int reuse = Math.Min(common, prompt.Length - 1);
        return reuse - reuse % Options.PrefillChunk;
    }

    private void Start(Slot slot, Pending p)
    {
        var job = p.Job;
        int reuse = Reusable(slot, job.Prompt);
        _session.Rewind(slot.Index, reuse);
        slot.Length = reuse;
        slot.Request = p;
        slot.Next = reuse;
        slot.Cached = reuse;
        slot.Pending = -1;
        slot.Generated.Clear();
        slot.Text = new TextStream(_tokenizer, job.SeparateThinking, job.StopStrings);
        slot.Sampler.Options = job.Sampling;
        slot.Sampler.Reseed(job.Seed ?? (ulong)Random.Shared.NextInt64());
        slot.Sampler.Reset();
        slot.Sampler.AddContext(job.Prompt);
        slot.Admitted = ++_clock;
        slot.LastUsed = _clock;
    }

    private void DropCancelled()
    {
        List<Pending>? gone = null;
        lock (_lock)
            if (_waiting.Any(w => w.Job.Cancellation.IsCancellationRequested))
            {
                var keep = _waiting.Where(w => !w.Job.Cancellation.IsCancellationRequested).ToList();
                gone = _waiting.Where(w => w.Job.Cancellation.IsCancellationRequested).ToList();
                _waiting.Clear();
                foreach (var w in keep) _waiting.Enqueue(w);
            }
        if (gone is not null) foreach (var w in gone) Finish(w, null, FinishReason.Cancelled);
        foreach (var slot in _slots)
            if (slot.Request is { } p && p.Job.Cancellation.IsCancellationRequested)
            {
                Finish(p, slot, FinishReason.Cancelled);
                Release(slot, keepCache: true);
            }
    }

    /// <summary>One token of every sequence that has one to feed, as the rows of one forward pass.</summary>
    private bool DecodeStep()
    {
        int n = 0;
        foreach (var slot in _slots)
            if (slot.Request is not null && slot.Pending >= 0)
            {
                _rowSlots[n] = slot.Index;
                _rowTokens[n++] = slot.Pending;
            }
        if (n == 0) return false;
        var logits = _session.Decode(_rowSlots.AsSpan(0, n), _rowTokens.AsSpan(0, n));
        int vocab = _model.Config.Vocab;
        for (int row = 0; row < n; row++)
        {
            var slot = _slots[_rowSlots[row]];
            slot.History[slot.Length++] = slot.Pending;
            slot.Pending = -1;
            Sample(slot, logits.Slice(row * vocab, vocab));
        }
        Interlocked.Increment(ref _decodeSteps);
        Interlocked.Add(ref _decodedTokens, n);
        return true;
    }

    /// <summary>One chunk of the prompt of the request admitted first among those still reading their prompt.</summary>
    private bool PrefillStep()
    {
        Slot? slot = null;
        foreach (var s in _slots)
            if (s.Request is not null && s.Next < s.Request.Job.Prompt.Length && (slot is null || s.Admitted < slot.Admitted)) slot = s;
        if (slot is null) return false;
        var prompt = slot.Request!.Job.Prompt;
        int n = Math.Min(Options.PrefillChunk, prompt.Length - slot.Next);
        var chunk = prompt.AsSpan(slot.Next, n);
        var logits = _session.Prefill(slot.Index, chunk);
        chunk.CopyTo(slot.History.AsSpan(slot.Length));
        slot.Length += n;
        slot.Next += n;
        if (slot.Next == prompt.Length) Sample(slot, logits);
        return true;
    }

    private void Sample(Slot slot, ReadOnlySpan<float> logits)
    {
        var p = slot.Request!;
        logits.CopyTo(slot.Logits);
        int id = slot.Sampler.Sample(slot.Logits);
        slot.Generated.Add(id);
        p.Job.OnToken?.Invoke(id);
        if (Array.IndexOf(_stopIds, id) >= 0) { Done(FinishReason.Stop); return; }
        bool more = slot.Text!.Push(id, slot.Chunks);
        Publish(slot, p);
        if (!more) { Done(FinishReason.Stop); return; }
        if (slot.Generated.Count >= p.Job.MaxTokens || slot.Length >= Options.Context) { Done(FinishReason.Length); return; }
        slot.Pending = id;

        void Done(FinishReason reason)
        {
            Finish(p, slot, reason);
            Release(slot, keepCache: true);
        }
    }

    private static void Publish(Slot slot, Pending p)
    {
        foreach (var c in slot.Chunks) p.Handle.Write(c);
        slot.Chunks.Clear();
    }

    private void Finish(Pending p, Slot? slot, FinishReason reason)
    {
        p.Registration.Dispose();
        if (slot is null)
        {
            p.Handle.Complete(new GenerationResult
            {
                Thinking = "", Answer = "", GeneratedIds = [], Finish = reason,
                PromptTokens = p.Job.Prompt.Length, CachedPromptTokens = 0, ReasoningTokens = 0,
            });
            return;
        }
        if (reason != FinishReason.Cancelled)
        {
            slot.Text!.Finish(slot.Chunks);
            Publish(slot, p);
        }
        var ids = slot.Generated.ToArray();
        int open = Array.IndexOf(ids, _tokenizer.ThinkId), close = Array.IndexOf(ids, _tokenizer.ThinkEndId);
        p.Handle.Complete(new GenerationResult
        {
            Thinking = slot.Text!.Thinking,
            Answer = slot.Text.Answer,
            GeneratedIds = ids,
            Finish = reason,
            PromptTokens = p.Job.Prompt.Length,
            CachedPromptTokens = slot.Cached,
            ReasoningTokens = open < 0 ? 0 : (close > open ? close + 1 : ids.Length) - open,
        });
    }

    /// <summary>Frees a slot. keepCache: its fed tokens stay for a later prompt with the same prefix.</summary>
    private void Release(Slot slot, bool keepCache)
    {
        slot.Request = null;
        slot.Text = null;
        slot.Pending = -1;
        slot.Chunks.Clear();
        if (!keepCache || slot.Length != _session.Position(slot.Index))
        {
            _session.Rewind(slot.Index, 0);
            slot.Length = 0;
        }
        lock (_lock) _freeSlots++;
        _wake.Set();
    }

    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        _wake.Set();
        _thread.Join();
        _session.Dispose();
        _wake.Dispose();
    }

    private sealed class Pending(GenerationJob job, GenerationHandle handle)
    {
        public readonly GenerationJob Job = job;
        public readonly GenerationHandle Handle = handle;
        public CancellationTokenRegistration Registration;
    }

    /// <summary>A cache slot and the request it serves. History[0..Length) are the tokens whose keys and values it holds.</summary>
    private sealed class Slot(int index, int vocab, int context)
    {
        public readonly int Index = index;
        public readonly Sampler Sampler = new(vocab, SamplingOptions.Greedy);
        public readonly int[] History = new int[context];
        public readonly float[] Logits = new float[vocab];
        public readonly List<int> Generated = [];
        public readonly List<ChatChunk> Chunks = [];
        public int Length;
        public Pending? Request;
        public int Next;              // next prompt index to prefill
        public int Cached;            // prompt tokens reused from the cache
        public int Pending = -1;      // sampled token to feed at the next decode step
        public TextStream? Text;
        public long Admitted, LastUsed;
    }
}
