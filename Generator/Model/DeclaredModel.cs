using Microsoft.CodeAnalysis.Text;

namespace Qwen3Gen.Generator.Model;

/// <summary>A source location as plain values (cache-friendly).</summary>
internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    public Microsoft.CodeAnalysis.Location ToLocation() => Microsoft.CodeAnalysis.Location.Create(FilePath, Span, LineSpan);

    public static LocationInfo? From(Microsoft.CodeAnalysis.Location? location) =>
        location is null || location.SourceTree is null ? null
            : new LocationInfo(location.SourceTree.FilePath, location.SourceSpan, location.GetLineSpan().Span);
}

/// <summary>One named argument of [Qwen3Model] as written: its name, value and where it is.</summary>
internal sealed record NamedValue(string Name, string Kind, string Value, EquatableArray<int> IntArray, LocationInfo? Location)
{
    public const string KindInt = "int", KindDouble = "double", KindBool = "bool", KindString = "string", KindIntArray = "int[]";
}

/// <summary>What the attribute and the class declaration say, before validation.</summary>
internal sealed record DeclaredModel(
    string Namespace,
    string ClassName,
    string Accessibility,
    bool IsPartial,
    string ContainingType,        // "" for a top-level class; else the containing type's name (QG0006)
    int TypeParameterCount,       // > 0 for a generic class (QG0007)
    LocationInfo? AttributeLocation,
    LocationInfo? ClassLocation,
    EquatableArray<NamedValue> Values);

/// <summary>An AdditionalFiles item: path (forward slashes) and text (null if unreadable).</summary>
internal sealed record ConfigFile(string Path, string? Text);
