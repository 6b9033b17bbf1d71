using Qwen3Gen.Generator.Model;

namespace Qwen3Gen.Generator.Emitting;

/// <summary>KV-cached decoding: a session owns inference work buffers and the cache of every layer.</summary>
internal static class SessionEmitter
{
    public static void Write(SourceWriter w, ModelSpec spec)
    {
        var c = spec.ClassName;
        w.Block($$"""
            public global::Qwen3Gen.Models.IInferenceSession CreateSession(int capacity, int chunk = 128, global::Qwen3Gen.Kernels.KvCacheFormat cacheFormat = global::Qwen3Gen.Kernels.KvCacheFormat.F32)
            {
                if (!global::System.Enum.IsDefined(cacheFormat)) throw new global::System.ArgumentOutOfRangeException(nameof(cacheFormat), cacheFormat, "Unknown KV cache format.");
                if (capacity <= 0 || capacity > PositionLimit)
                    throw new global::System.ArgumentOutOfRangeException(nameof(capacity), capacity, $"The context length must be in 1..{PositionLimit} (max_position_embeddings, RoPE scaling {_ropeScaling}).");
                if (chunk <= 0) throw new global::System.ArgumentOutOfRangeException(nameof(chunk), chunk, "The prefill chunk must be positive.");
                chunk = global::System.Math.Min(chunk, capacity);
                global::Qwen3Gen.Kernels.WorkBufferLimits.Check(State.PlannedBytes(1, chunk, training: false, _ropeScaling, capacity, logitRows: 1, cacheFormat), chunk,
                                       nameof(capacity), capacity, $"CreateSession(capacity {capacity}, chunk {chunk}, {cacheFormat} cache)");
                return new Session(this, capacity, chunk, cacheFormat);
            }

            /// <summary>
            /// Decoding with a KV cache: each call runs only the new tokens through the layers, attending to the cached
            /// keys and values of every earlier position. Same math as a full recompute (tested), positions past .. past + n − 1.
            /// </summary>
            [GeneratedCode]
            private sealed class Session : global::Qwen3Gen.Models.IInferenceSession
            {
                private readonly {{c}} _model;
                private readonly State _state;

                public Session({{c}} model, int capacity, int chunk, global::Qwen3Gen.Kernels.KvCacheFormat cacheFormat)
                {
                    _model = model;
                    _state = new State(maxBatch: 1, maxSeqLen: chunk, training: false, rope: model._ropeScaling, capacity: capacity, logitRows: 1,
                                       cacheFormat: cacheFormat);
                    Capacity = capacity;
                }

                public int Capacity { get; }
                public int Position { get; private set; }
                public global::Qwen3Gen.Kernels.KvCacheFormat CacheFormat => _state.CacheFormat;

                public global::System.ReadOnlySpan<float> Prefill(global::System.ReadOnlySpan<int> tokens)
                {
                    if (tokens.Length == 0) throw new global::System.ArgumentException("The prompt is empty: give at least one token.", nameof(tokens));
                    if ((long)Position + tokens.Length > Capacity)
                        throw new global::System.InvalidOperationException($"The context is full: {Position} cached + {tokens.Length} new tokens exceed the session's {Capacity} positions.");
                    for (int i = 0; i < tokens.Length; i++)
                        if ((uint)tokens[i] >= Vocab)
                            throw new global::System.ArgumentOutOfRangeException(nameof(tokens), tokens[i], $"Token id {tokens[i]} at position {i} is outside the vocabulary [0, {Vocab}).");
                    var s = _state;
                    for (int start = 0; start < tokens.Length; start += s.MaxSeqLen)
                    {
                        int n = global::System.Math.Min(s.MaxSeqLen, tokens.Length - start);
                        tokens.Slice(start, n).CopyTo(new global::System.Span<int>(s.Tokens, n));
                        s.Batch = 1;
                        s.SeqLen = n;
                        s.HasTargets = false;
                        _model.ForwardPass(s, Position, lastOnly: true);
                        Position += n;
                    }
                    return new global::System.ReadOnlySpan<float>(s.Logits, Vocab);
                }

                private readonly int[] _one = new int[1];

                public global::System.ReadOnlySpan<float> Decode(int token)
                {
                    _one[0] = token;
                    return Prefill(_one);
                }

                public void Rewind(int position)
                {
                    if (position < 0 || position > Position)
                        throw new global::System.ArgumentOutOfRangeException(nameof(position), position, $"Can rewind only to 0..{Position}.");
                    Position = position;
                }

                public void Dispose() => _state.Dispose();
            }

            public global::Qwen3Gen.Models.IBatchSession CreateBatchSession(int sequences, int capacity, int chunk = 64)
            {
                if (sequences <= 0) throw new global::System.ArgumentOutOfRangeException(nameof(sequences), sequences, "A batch session needs at least one sequence slot.");
                if (capacity <= 0 || capacity > PositionLimit)
                    throw new global::System.ArgumentOutOfRangeException(nameof(capacity), capacity, $"The context length must be in 1..{PositionLimit} (max_position_embeddings, RoPE scaling {_ropeScaling}).");
                if (chunk <= 0) throw new global::System.ArgumentOutOfRangeException(nameof(chunk), chunk, "The prefill chunk must be positive.");
                chunk = global::System.Math.Min(chunk, capacity);
                global::Qwen3Gen.Kernels.WorkBufferLimits.Check(State.PlannedBytes(sequences, chunk, training: false, _ropeScaling, capacity, logitRows: sequences), (long)sequences * chunk,
                                       nameof(sequences), sequences, $"CreateBatchSession(sequences {sequences}, capacity {capacity}, chunk {chunk})");
                return new BatchSession(this, sequences, capacity, chunk);
            }

            /// <summary>
            /// Several sequences, each in its own cache slot at its own position. Prefill runs one slot's prompt in chunks;
            /// a decode step runs one token of each listed slot as the rows of one forward pass (row b uses slot Slot[b] at
            /// position Past[b]), so every weight matrix is read once for all of them.
            /// </summary>
            [GeneratedCode]
            private sealed class BatchSession : global::Qwen3Gen.Models.IBatchSession
            {
                private readonly {{c}} _model;
                private readonly State _state;
                private readonly int[] _position;

                public BatchSession({{c}} model, int sequences, int capacity, int chunk)
                {
                    _model = model;
                    _state = new State(maxBatch: sequences, maxSeqLen: chunk, training: false, rope: model._ropeScaling, capacity: capacity, logitRows: sequences);
                    _position = new int[sequences];
                    Capacity = capacity;
                }

                public int Sequences => _position.Length;
                public int Capacity { get; }
                public int Chunk => _state.MaxSeqLen;

                public int Position(int sequence) => _position[CheckSlot(sequence)];

                public global::System.ReadOnlySpan<float> Prefill(int sequence, global::System.ReadOnlySpan<int> tokens)
                {
                    CheckSlot(sequence);
                    if (tokens.Length == 0) throw new global::System.ArgumentException("The prompt is empty: give at least one token.", nameof(tokens));
                    if ((long)_position[sequence] + tokens.Length > Capacity)
                        throw new global::System.InvalidOperationException($"The context is full: {_position[sequence]} cached + {tokens.Length} new tokens exceed the slot's {Capacity} positions.");
                    CheckIds(tokens);
                    var s = _state;
                    for (int start = 0; start < tokens.Length; start += s.MaxSeqLen)
                    {
                        int n = global::System.Math.Min(s.MaxSeqLen, tokens.Length - start);
                        tokens.Slice(start, n).CopyTo(new global::System.Span<int>(s.Tokens, n));
                        s.Batch = 1;
                        s.SeqLen = n;
                        s.HasTargets = false;
                        s.Slot[0] = sequence;
                        s.Past[0] = _position[sequence];
                        Run(s);
                        _position[sequence] += n;
                    }
                    return new global::System.ReadOnlySpan<float>(s.Logits, Vocab);
                }

                public global::System.ReadOnlySpan<float> Decode(global::System.ReadOnlySpan<int> sequences, global::System.ReadOnlySpan<int> tokens)
                {
                    int n = sequences.Length;
                    if (n == 0 || n > global::System.Math.Min(Sequences, global::Qwen3Gen.Kernels.MatMul.MatVecMaxRows))
                        throw new global::System.ArgumentException($"A decode step takes 1..{(global::System.Math.Min(Sequences, global::Qwen3Gen.Kernels.MatMul.MatVecMaxRows))} sequences, got {n}.", nameof(sequences));
                    if (tokens.Length != n) throw new global::System.ArgumentException($"{tokens.Length} tokens for {n} sequences.", nameof(tokens));
                    CheckIds(tokens);
                    var s = _state;
                    for (int b = 0; b < n; b++)
                    {
                        int q = CheckSlot(sequences[b]);
                        for (int e = 0; e < b; e++)
                            if (sequences[e] == q) throw new global::System.ArgumentException($"Sequence {q} is listed twice in one decode step.", nameof(sequences));
                        if (_position[q] >= Capacity)
                            throw new global::System.InvalidOperationException($"The context of sequence {q} is full: {_position[q]} of {Capacity} positions.");
                        s.Slot[b] = q;
                        s.Past[b] = _position[q];
                        s.Tokens[b] = tokens[b];
                    }
                    s.Batch = n;
                    s.SeqLen = 1;
                    s.HasTargets = false;
                    Run(s);
                    for (int b = 0; b < n; b++) _position[sequences[b]]++;
                    return new global::System.ReadOnlySpan<float>(s.Logits, n * Vocab);
                }

                public void Rewind(int sequence, int position)
                {
                    CheckSlot(sequence);
                    if (position < 0 || position > _position[sequence])
                        throw new global::System.ArgumentOutOfRangeException(nameof(position), position, $"Can rewind sequence {sequence} only to 0..{_position[sequence]}.");
                    _position[sequence] = position;
                }

                private void Run(State s) => _model.ForwardPass(s, lastOnly: true, perSequence: true);

                private int CheckSlot(int sequence) => (uint)sequence < (uint)_position.Length ? sequence
                    : throw new global::System.ArgumentOutOfRangeException(nameof(sequence), sequence, $"Sequence slots are 0..{_position.Length - 1}.");

                private static void CheckIds(global::System.ReadOnlySpan<int> tokens)
                {
                    for (int i = 0; i < tokens.Length; i++)
                        if ((uint)tokens[i] >= Vocab)
                            throw new global::System.ArgumentOutOfRangeException(nameof(tokens), tokens[i], $"Token id {tokens[i]} at index {i} is outside the vocabulary [0, {Vocab}).");
                }

                public void Dispose() => _state.Dispose();
            }

            """);
    }
}
