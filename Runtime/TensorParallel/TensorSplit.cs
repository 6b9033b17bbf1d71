using Qwen3Gen.Models;

namespace Qwen3Gen.TensorParallel;

/// <summary>How one tensor of the checkpoint is split across the ranks.</summary>
public enum SplitKind
{
    /// <summary>Every rank holds the whole tensor (norm weights, the MoE router).</summary>
    Replicated,
    /// <summary>The rank holds rows [Start, Start + Count) (q/k/v, gate/up: output features; embedding, LM head: vocabulary).</summary>
    Rows,
    /// <summary>The rank holds columns [Start, Start + Count) of every row (o_proj, down_proj: input features).</summary>
    Columns,
    /// <summary>A whole tensor only this rank holds (an expert it owns, under expert parallelism).</summary>
    Owned,
}

/// <summary>One tensor of a rank's slice: the checkpoint's name and full shape, the part held, and its place in the rank's flat layout.</summary>
public sealed record SlicedTensor(string Name, int[] FullShape, SplitKind Kind, int Start, int Count, TensorSpec Local);

/// <summary>
/// Rank <see cref="Rank"/>'s slice of a model split <see cref="Ways"/> ways, Megatron-style (docs/distributed.md):
/// <list type="bullet">
/// <item>attention by KV-head groups: KvHeads / N whole K/V heads and the Heads / N query heads that share them
/// (q/k/v_proj rows); o_proj by its input columns, so each rank's o is a partial sum, all-reduced once per layer;</item>
/// <item>the dense MLP by FFN columns: gate/up_proj rows, down_proj input columns (one all-reduce per layer);</item>
/// <item>MoE: Experts / N whole experts per rank (expert parallelism), the router replicated, the experts' sum all-reduced;</item>
/// <item>embedding and LM head by vocabulary rows [VocabStart, VocabStart + VocabCount) (balanced, any vocabulary);</item>
/// <item>the norm weights replicated.</item>
/// </list>
/// Everything here is computed from the definition's hyper-parameters: the generated model is not regenerated per rank.
/// </summary>
public sealed class TensorSplit
{
    /// <summary>Splits the kernels are compiled for (<see cref="IWays"/>).</summary>
    public static readonly int[] SupportedWays = [1, 2, 4, 8];

    public TensorSplit(ModelConfig config, int ways, int rank)
    {
        if (Problem(config, ways) is { } problem) throw new ArgumentException(problem, nameof(ways));
        if (rank < 0 || rank >= ways) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"Rank must be in [0, {ways}).");
        Config = config; Ways = ways; Rank = rank;
        Heads = config.Heads / ways; KvHeads = config.KvHeads / ways; Ffn = config.Ffn / ways;
        VocabStart = (int)((long)rank * config.Vocab / ways);
        VocabCount = (int)((long)(rank + 1) * config.Vocab / ways) - VocabStart;
        ExpertCount = config.Experts / ways; ExpertStart = rank * ExpertCount;
        Tensors = Plan();
        long end = Tensors.Count == 0 ? 0 : Tensors.Max(t => t.Local.Offset + t.Local.Length);
        Count = end;
        VectorStart = Tensors.Where(t => !t.Local.IsMatrix).Select(t => t.Local.Offset).DefaultIfEmpty(end).Min();
    }

    /// <summary>Why the model cannot be split <paramref name="ways"/> ways (null: it can).</summary>
    public static string? Problem(ModelConfig config, int ways)
    {
        if (!SupportedWays.Contains(ways))
            return $"--tensor-parallel {ways}: supported splits are {string.Join(", ", SupportedWays)} ranks.";
        if (config.KvHeads % ways != 0)
            return $"--tensor-parallel {ways} does not divide num_key_value_heads = {config.KvHeads}: each rank must hold whole KV heads.";
        if (config.Ffn % ways != 0)
            return $"--tensor-parallel {ways} does not divide intermediate_size = {config.Ffn}.";
        if (config.IsMoe && config.Experts % ways != 0)
            return $"--tensor-parallel {ways} does not divide num_experts = {config.Experts}: each rank must hold the same number of whole experts.";
        if (config.Vocab < ways)
            return $"--tensor-parallel {ways} exceeds vocab_size = {config.Vocab}.";
        return null;
    }

    public ModelConfig Config { get; }
    public int Ways { get; }
    public int Rank { get; }

    /// <summary>This rank's query heads, K/V heads and dense-MLP columns.</summary>
    public int Heads { get; }
    public int KvHeads { get; }
    public int Ffn { get; }
    public int QDim => Heads * Config.HeadDim;
    public int KvDim => KvHeads * Config.HeadDim;

    /// <summary>This rank's vocabulary rows of the embedding and the LM head (and its part of each logits row).</summary>
    public int VocabStart { get; }
    public int VocabCount { get; }

    /// <summary>This rank's experts [ExpertStart, ExpertStart + ExpertCount) of every sparse layer.</summary>
    public int ExpertStart { get; }
    public int ExpertCount { get; }

    /// <summary>Every tensor of the rank's slice, matrices first, with its local layout offset.</summary>
    public IReadOnlyList<SlicedTensor> Tensors { get; }

    /// <summary>Elements of the rank's flat layout, and the offset where its vectors (norm weights) start.</summary>
    public long Count { get; }
    public long VectorStart { get; }

    public SlicedTensor this[string name] => Tensors.FirstOrDefault(t => t.Name == name)
        ?? throw new KeyNotFoundException($"Rank {Rank} of {Ways} holds no part of '{name}'.");

    private List<SlicedTensor> Plan()
    {
        var c = Config;
        int h = c.Hidden, hd = c.HeadDim;
        var matrices = new List<(string, int[], SplitKind, int, int, int[])>();
        var vectors = new List<(string, int[])>();
        void Rows(string name, int rows, int cols, int start, int count) => matrices.Add((name, [rows, cols], SplitKind.Rows, start, count, [count, cols]));
        void Cols(string name, int rows, int cols, int start, int count) => matrices.Add((name, [rows, cols], SplitKind.Columns, start, count, [rows, count]));
        void Whole(string name, int rows, int cols, SplitKind kind) => matrices.Add((name, [rows, cols], kind, 0, kind == SplitKind.Owned ? rows : rows, [rows, cols]));

        Rows("model.embed_tokens.weight", c.Vocab, h, VocabStart, VocabCount);
        for (int l = 0; l < c.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            Rows(p + "self_attn.q_proj.weight", c.Heads * hd, h, Rank * QDim, QDim);
            Rows(p + "self_attn.k_proj.weight", c.KvHeads * hd, h, Rank * KvDim, KvDim);
            Rows(p + "self_attn.v_proj.weight", c.KvHeads * hd, h, Rank * KvDim, KvDim);
            Cols(p + "self_attn.o_proj.weight", h, c.Heads * hd, Rank * QDim, QDim);
            if (c.IsSparse(l))
            {
                Whole(p + "mlp.gate.weight", c.Experts, h, SplitKind.Replicated);
                for (int e = ExpertStart; e < ExpertStart + ExpertCount; e++)                 // gate, up, down per expert: a fixed stride
                {
                    Whole(p + $"mlp.experts.{e}.gate_proj.weight", c.ExpertFfn, h, SplitKind.Owned);
                    Whole(p + $"mlp.experts.{e}.up_proj.weight", c.ExpertFfn, h, SplitKind.Owned);
                    Whole(p + $"mlp.experts.{e}.down_proj.weight", h, c.ExpertFfn, SplitKind.Owned);
                }
            }
            else
            {
                Rows(p + "mlp.gate_proj.weight", c.Ffn, h, Rank * Ffn, Ffn);
                Rows(p + "mlp.up_proj.weight", c.Ffn, h, Rank * Ffn, Ffn);
                Cols(p + "mlp.down_proj.weight", h, c.Ffn, Rank * Ffn, Ffn);
            }
            vectors.Add((p + "input_layernorm.weight", [h]));
            vectors.Add((p + "post_attention_layernorm.weight", [h]));
            vectors.Add((p + "self_attn.q_norm.weight", [hd]));
            vectors.Add((p + "self_attn.k_norm.weight", [hd]));
        }
        if (!c.TieEmbeddings) Rows("lm_head.weight", c.Vocab, h, VocabStart, VocabCount);
        vectors.Add(("model.norm.weight", [h]));

        var plan = new List<SlicedTensor>();
        long offset = 0;
        foreach (var (name, full, kind, start, count, local) in matrices)
        {
            var spec = new TensorSpec(name, local, offset);
            plan.Add(new SlicedTensor(name, full, kind, start, count, spec));
            offset += spec.Length;
        }
        foreach (var (name, shape) in vectors)
        {
            var spec = new TensorSpec(name, shape, offset);
            plan.Add(new SlicedTensor(name, shape, SplitKind.Replicated, 0, shape[0], spec));
            offset += spec.Length;
        }
        return plan;
    }
}
