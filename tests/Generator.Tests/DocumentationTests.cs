using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis;
using Qwen3Gen.Generator.Diagnostics;

namespace Qwen3Gen.Generator.Tests;

/// <summary>Every diagnostic id is listed in AnalyzerReleases.Unshipped.md and documented in docs/diagnostics.</summary>
public class DocumentationTests
{
    private static string RepoRoot([CallerFilePath] string file = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, "..", ".."));

    public static TheoryData<string> Ids()
    {
        var data = new TheoryData<string>();
        foreach (var d in AllDescriptors()) data.Add(d.Id);
        return data;
    }

    private static IEnumerable<DiagnosticDescriptor> AllDescriptors() =>
        typeof(Descriptors).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Select(f => f.GetValue(null)).OfType<DiagnosticDescriptor>().OrderBy(d => d.Id, StringComparer.Ordinal);

    [Fact]
    public void Ids_AreUniqueAndConsecutive()
    {
        var ids = AllDescriptors().Select(d => d.Id).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Equal(Enumerable.Range(1, ids.Count).Select(i => $"QG{i:D4}"), ids);
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void EveryId_IsReleasedAndDocumented(string id)
    {
        string root = RepoRoot();
        var descriptor = AllDescriptors().Single(d => d.Id == id);
        string releases = File.ReadAllText(Path.Combine(root, "Generator", "Diagnostics", "AnalyzerReleases.Unshipped.md"));
        Assert.Contains($"{id} | Qwen3Gen | {descriptor.DefaultSeverity} | {descriptor.Title}", releases);

        string page = Path.Combine(root, "docs", "diagnostics", id + ".md");
        Assert.True(File.Exists(page), $"missing {page}");
        Assert.StartsWith($"# {id}", File.ReadAllText(page));

        string table = File.ReadAllText(Path.Combine(root, "docs", "diagnostics", "README.md"));
        Assert.Contains($"[{id}]({id}.md)", table);
    }
}
