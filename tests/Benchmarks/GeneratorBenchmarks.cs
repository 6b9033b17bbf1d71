using System.Diagnostics;
using System.Text;
using BenchmarkDotNet.Attributes;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Qwen3Gen.Generator;
using Qwen3Gen.Models;

namespace Qwen3Gen.Benchmarks;

/// <summary>
/// The generator in-process (CSharpGeneratorDriver) over one [Qwen3Model] declaration of the official MoE sizes:
/// time to generate, and the size of what it generates.
/// dotnet run -c Release --project tests/Benchmarks -- --filter '*GeneratorBenchmarks*'
/// (sizes, cold time and a compile check: dotnet run -c Release --project tests/Benchmarks -- gen-size)
/// </summary>
[MemoryDiagnoser]
public class GeneratorBenchmarks
{
    /// <summary>The declarations of Definitions/OfficialMoe.cs, verbatim.</summary>
    public static readonly Dictionary<string, string> Declarations = new()
    {
        ["Qwen3_30B_A3B"] = """
            [Qwen3Model(Vocab = 151_936, Hidden = 2048, Layers = 48, Heads = 32, KvHeads = 4, HeadDim = 128,
                        Ffn = 6144, RopeTheta = 1e6, TieEmbeddings = false, MaxPositions = 40_960,
                        Experts = 128, ExpertsPerToken = 8, ExpertFfn = 768, NormTopKProb = true, DecoderSparseStep = 1,
                        RouterAuxLossCoef = 0.001)]
            public partial class Qwen3_30B_A3B;
            """,
        ["Qwen3_235B_A22B"] = """
            [Qwen3Model(Vocab = 151_936, Hidden = 4096, Layers = 94, Heads = 64, KvHeads = 4, HeadDim = 128,
                        Ffn = 12_288, RopeTheta = 1e6, TieEmbeddings = false, MaxPositions = 40_960,
                        Experts = 128, ExpertsPerToken = 8, ExpertFfn = 1536, NormTopKProb = true, DecoderSparseStep = 1,
                        RouterAuxLossCoef = 0.001)]
            public partial class Qwen3_235B_A22B;
            """,
    };

    [Params("Qwen3_30B_A3B", "Qwen3_235B_A22B")]
    public string Model { get; set; } = "";

    CSharpCompilation _compilation = null!;

    [GlobalSetup]
    public void Setup() => _compilation = Compilation(Model);

    [Benchmark(Description = "Generator run (fresh driver)")]
    public int Generate() => Run(_compilation).Sources.Count;

    public static CSharpCompilation Compilation(string model)
    {
        var source = "using Qwen3Gen;\nnamespace Qwen3Gen.Definitions;\n" + Declarations[model] + "\n";
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Select(p => MetadataReference.CreateFromFile(p))
            .Append(MetadataReference.CreateFromFile(typeof(IQwen3Model).Assembly.Location));
        return CSharpCompilation.Create("Measure", [CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Preview))],
            references, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true, optimizationLevel: OptimizationLevel.Release));
    }

    public static (IReadOnlyList<GeneratedSourceResult> Sources, Compilation Output, IReadOnlyList<Diagnostic> Diagnostics) Run(CSharpCompilation compilation)
    {
        GeneratorDriver driver = CSharpGeneratorDriver.Create([new Qwen3ModelGenerator().AsSourceGenerator()],
            parseOptions: (CSharpParseOptions)compilation.SyntaxTrees[0].Options);
        driver = driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics);
        var result = driver.GetRunResult().Results[0];
        if (result.Exception is not null) throw result.Exception;
        return (result.GeneratedSources, output, diagnostics);
    }

    /// <summary>gen-size: per model, cold and warm generator time, generated files and bytes, compile errors.</summary>
    public static void Report(string[] args)
    {
        int repeats = args.Length > 1 ? int.Parse(args[1]) : 20;
        Console.WriteLine($"CSharpGeneratorDriver in-process, .NET {Environment.Version}, {Environment.ProcessorCount} logical cores; warm = median of {repeats} fresh drivers");
        // The process's very first run also JIT-compiles Roslyn and the generator: timed apart.
        var first = Stopwatch.StartNew();
        Run(Compilation("Qwen3_30B_A3B"));
        Console.WriteLine($"first generator run in the process (JIT of Roslyn + generator included): {first.Elapsed.TotalMilliseconds:F0} ms");
        Console.WriteLine($"{"model",-16} {"cold ms",8} {"warm ms",8} {"files",5} {"bytes (UTF-8)",14} {"lines",7} {"compile ms",10} {"errors",6}");
        foreach (var model in Declarations.Keys)
        {
            var compilation = Compilation(model);                   // cold: a new compilation and a new driver
            var sw = Stopwatch.StartNew();
            var (sources, output, _) = Run(compilation);
            double cold = sw.Elapsed.TotalMilliseconds;
            var times = new List<double>();                          // warm: the same compilation, a new driver
            for (int i = 0; i < repeats; i++)
            {
                sw.Restart();
                Run(compilation);
                times.Add(sw.Elapsed.TotalMilliseconds);
            }
            times.Sort();
            // Only the model's own files: the attribute (post-initialisation output) is the same for every model.
            var own = sources.Where(s => s.HintName.StartsWith(model, StringComparison.Ordinal)).ToList();
            long bytes = own.Sum(s => (long)Encoding.UTF8.GetByteCount(s.SourceText.ToString()));
            int lines = own.Sum(s => s.SourceText.Lines.Count);
            sw.Restart();
            using var pe = new MemoryStream();
            var emit = output.Emit(pe);
            double compile = sw.Elapsed.TotalMilliseconds;
            int errors = emit.Diagnostics.Count(d => d.Severity == DiagnosticSeverity.Error);
            Console.WriteLine($"{model,-16} {cold,8:F0} {times[times.Count / 2],8:F1} {own.Count,5} {bytes,14:N0} {lines,7:N0} {compile,10:F0} {errors,6}");
            foreach (var s in own)
                Console.WriteLine($"    {s.HintName,-36} {Encoding.UTF8.GetByteCount(s.SourceText.ToString()),10:N0} bytes");
            foreach (var d in emit.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Take(5))
                Console.WriteLine("    " + d);
        }
    }
}
