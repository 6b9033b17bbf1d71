using BenchmarkDotNet.Attributes;
using Qwen3Gen.Tokenization;

namespace Qwen3Gen.Benchmarks;

/// <summary>
/// Qwen3 encode throughput on tinyshakespeare (1.1 MB): MB/s = 1.115 / mean seconds.
/// dotnet run -c Release --project tests/Benchmarks -- --filter '*TokenizerBenchmarks*'
/// </summary>
[MemoryDiagnoser]
public class TokenizerBenchmarks
{
    Qwen3Tokenizer _tiktoken = null!, _bpeOnly = null!;
    string _text = null!;

    [GlobalSetup]
    public void Setup()
    {
        _tiktoken = Qwen3Tokenizer.LoadBundled();
        _bpeOnly = Qwen3Tokenizer.LoadBundled(useTiktoken: false);
        _text = File.ReadAllText(FindCorpus());
    }

    [Benchmark(Baseline = true, Description = "Qwen3 encode, Tiktoken route")]
    public int EncodeTiktoken() => _tiktoken.Encode(_text).Length;

    [Benchmark(Description = "Qwen3 encode, own BPE only")]
    public int EncodeOwnBpe() => _bpeOnly.Encode(_text).Length;

    [Benchmark(Description = "Byte tokenizer encode")]
    public int EncodeBytes() => ByteTokenizer.Instance.Encode(_text).Length;

    static string FindCorpus()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Qwen3Gen.sln")))
                return Path.Combine(dir.FullName, "data", "tinyshakespeare.txt");
        throw new FileNotFoundException("No Qwen3Gen.sln above the benchmark; cannot find data/tinyshakespeare.txt.");
    }
}
