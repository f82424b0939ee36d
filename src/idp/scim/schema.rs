//! The attributes lbops keeps, as one table per resource type: input is
//! checked against it, `/Schemas` publishes it, filters and PATCH paths
//! resolve names in it. What is not in a table is accepted and dropped
//! (an identity provider sends attributes lbops has no use for, and must
//! not be stopped by them), and never stored.

/// The core User schema's id.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema's id.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The longest string value kept, in bytes.
pub const MAX_STRING_BYTES: usize = 1024;
/// The most emails one User keeps.
pub const MAX_EMAILS: usize = 100;
/// The most members one Group keeps.
pub const MAX_MEMBERS: usize = 10_000;

/// An attribute's type (RFC 7643 §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    String,
    Boolean,
    Integer,
    /// A URI; `reference_types` says to what.
    Reference,
    Complex(&'static [Attr]),
}

impl Type {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Type::String => "string",
            Type::Boolean => "boolean",
            Type::Integer => "integer",
            Type::Reference => "reference",
            Type::Complex(_) => "complex",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
}

impl Mutability {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
        }
    }
}

/// Where an attribute comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Sent by the client and kept as sent (after checks).
    Stored,
    /// Worked out by lbops when it answers (a member's `$ref` and
    /// `type`, a User's `groups`); what a client sends is dropped.
    Computed,
}

/// One attribute definition (RFC 7643 §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr {
    pub name: &'static str,
    pub ty: Type,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    /// `always`, `default` (the only two used here).
    pub always_returned: bool,
    /// Unique across the server (only `userName`).
    pub unique: bool,
    pub canonical: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub description: &'static str,
    /// For a multi-valued attribute, how many values are kept.
    pub max_values: usize,
    pub origin: Origin,
}

impl Attr {
    const fn new(name: &'static str, ty: Type, description: &'static str) -> Attr {
        Attr {
            name,
            ty,
            multi: false,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            always_returned: false,
            unique: false,
            canonical: &[],
            reference_types: &[],
            description,
            max_values: 1,
            origin: Origin::Stored,
        }
    }
    const fn string(name: &'static str, description: &'static str) -> Attr {
        Attr::new(name, Type::String, description)
    }
    const fn multi(mut self, max_values: usize) -> Attr {
        self.multi = true;
        self.max_values = max_values;
        self
    }
    const fn required(mut self) -> Attr {
        self.required = true;
        self
    }
    const fn case_exact(mut self) -> Attr {
        self.case_exact = true;
        self
    }
    const fn read_only(mut self) -> Attr {
        self.mutability = Mutability::ReadOnly;
        self
    }
    const fn immutable(mut self) -> Attr {
        self.mutability = Mutability::Immutable;
        self
    }
    const fn computed(mut self) -> Attr {
        self.origin = Origin::Computed;
        self
    }
    const fn canonical(mut self, values: &'static [&'static str]) -> Attr {
        self.canonical = values;
        self
    }
    const fn references(mut self, types: &'static [&'static str]) -> Attr {
        self.reference_types = types;
        self
    }
    const fn unique(mut self) -> Attr {
        self.unique = true;
        self
    }

    /// The sub-attributes of a complex attribute (none for the others).
    #[must_use]
    pub fn subs(&self) -> &'static [Attr] {
        match self.ty {
            Type::Complex(subs) => subs,
            _ => &[],
        }
    }

    /// The sub-attribute named `name` (any case).
    #[must_use]
    pub fn sub(&self, name: &str) -> Option<&'static Attr> {
        self.subs()
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Whether two values of this (simple) attribute are equal, by its
    /// case rule.
    #[must_use]
    pub fn same(&self, a: &str, b: &str) -> bool {
        if self.case_exact {
            a == b
        } else {
            a.to_lowercase() == b.to_lowercase()
        }
    }
}

/// A resource type lbops serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceSchema {
    /// `User` or `Group`: the ResourceType's id and name.
    pub name: &'static str,
    pub schema: &'static str,
    /// Below `/scim/v2`.
    pub endpoint: &'static str,
    pub description: &'static str,
    pub attributes: &'static [Attr],
}

impl ResourceSchema {
    /// The attribute named `name` (any case), `externalId` included.
    #[must_use]
    pub fn attr(&self, name: &str) -> Option<&'static Attr> {
        self.attributes
            .iter()
            .chain(std::iter::once(&EXTERNAL_ID))
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The attribute whose value names the resource to people: `userName`
    /// or `displayName`.
    #[must_use]
    pub fn naming(&self) -> &'static str {
        self.attributes
            .iter()
            .find(|a| a.required)
            .map_or("id", |a| a.name)
    }
}

/// The IdP's own id for a resource: a common attribute (RFC 7643 §3.1).
pub const EXTERNAL_ID: Attr = Attr::string(
    "externalId",
    "The identity provider's own identifier for the resource.",
)
.case_exact();

const NAME: &[Attr] = &[
    Attr::string("formatted", "The full name, formatted for display."),
    Attr::string("familyName", "The family (last) name."),
    Attr::string("givenName", "The given (first) name."),
    Attr::string("middleName", "The middle name(s)."),
    Attr::string("honorificPrefix", "E.g. 'Ms.'"),
    Attr::string("honorificSuffix", "E.g. 'III'"),
];

const EMAIL: &[Attr] = &[
    Attr::string(
        "value",
        "The email address; lbops matches it to the author email of commits.",
    ),
    Attr::string("display", "A human-readable name."),
    Attr::string("type", "A label: 'work', 'home' or 'other'.")
        .canonical(&["work", "home", "other"]),
    Attr::new(
        "primary",
        Type::Boolean,
        "Whether this is the preferred address.",
    ),
];

const USER_GROUP: &[Attr] = &[
    Attr::string("value", "The Group's id.").read_only(),
    Attr::new("$ref", Type::Reference, "The Group's URI.")
        .references(&["Group"])
        .read_only(),
    Attr::string("display", "The Group's displayName.").read_only(),
    Attr::string("type", "Always 'direct': lbops keeps no nested groups.")
        .canonical(&["direct"])
        .read_only(),
];

const USER_ATTRIBUTES: &[Attr] = &[
    Attr::string(
        "userName",
        "Unique identifier for the User, e.g. the sign-in name or email; unique, any case.",
    )
    .required()
    .unique(),
    Attr::new(
        "name",
        Type::Complex(NAME),
        "The components of the User's name.",
    ),
    Attr::string("displayName", "The name of the User, for display."),
    Attr::new(
        "active",
        Type::Boolean,
        "Whether the User may act: false takes the person's access away at once.",
    ),
    Attr::new(
        "emails",
        Type::Complex(EMAIL),
        "Email addresses of the User.",
    )
    .multi(MAX_EMAILS),
    Attr::new(
        "groups",
        Type::Complex(USER_GROUP),
        "The Groups the User belongs to, from the Groups' members.",
    )
    .multi(usize::MAX)
    .read_only()
    .computed(),
];

const MEMBER: &[Attr] = &[
    Attr::string("value", "The member User's id.")
        .case_exact()
        .immutable(),
    Attr::new("$ref", Type::Reference, "The member User's URI.")
        .references(&["User"])
        .immutable()
        .computed(),
    Attr::string("display", "A name for the member."),
    Attr::string("type", "Always 'User': lbops keeps no nested groups.")
        .canonical(&["User"])
        .immutable()
        .computed(),
];

const GROUP_ATTRIBUTES: &[Attr] = &[
    Attr::string("displayName", "The Group's name.").required(),
    Attr::new("members", Type::Complex(MEMBER), "The Users in the Group.").multi(MAX_MEMBERS),
];

pub const USER: ResourceSchema = ResourceSchema {
    name: "User",
    schema: USER_SCHEMA,
    endpoint: "/Users",
    description: "People the identity provider manages; lbops matches them to git Users by email.",
    attributes: USER_ATTRIBUTES,
};

pub const GROUP: ResourceSchema = ResourceSchema {
    name: "Group",
    schema: GROUP_SCHEMA,
    endpoint: "/Groups",
    description: "Groups of Users; a Role may require membership of one.",
    attributes: GROUP_ATTRIBUTES,
};

/// The resource types lbops serves.
pub const RESOURCES: [ResourceSchema; 2] = [USER, GROUP];

// The schemas of the discovery resources themselves (RFC 7643 §5-7),
// published so that a client can read them; nothing is checked against
// them.

const fn bool_attr(name: &'static str, description: &'static str) -> Attr {
    Attr::new(name, Type::Boolean, description)
        .required()
        .read_only()
}

const SUPPORTED: &[Attr] = &[bool_attr("supported", "Whether it is supported.")];
const BULK: &[Attr] = &[
    bool_attr("supported", "Whether it is supported."),
    Attr::new("maxOperations", Type::Integer, "The most operations.")
        .required()
        .read_only(),
    Attr::new("maxPayloadSize", Type::Integer, "The largest payload.")
        .required()
        .read_only(),
];
const FILTER: &[Attr] = &[
    bool_attr("supported", "Whether it is supported."),
    Attr::new(
        "maxResults",
        Type::Integer,
        "The most resources a query returns.",
    )
    .required()
    .read_only(),
];
const AUTHENTICATION_SCHEME: &[Attr] = &[
    Attr::string("type", "The scheme's type.")
        .required()
        .read_only(),
    Attr::string("name", "The scheme's name.")
        .required()
        .read_only(),
    Attr::string("description", "What it is.")
        .required()
        .read_only(),
    Attr::new("specUri", Type::Reference, "Its specification.")
        .references(&["external"])
        .read_only(),
    Attr::new("documentationUri", Type::Reference, "Its documentation.")
        .references(&["external"])
        .read_only(),
];

const SERVICE_PROVIDER_CONFIG_ATTRIBUTES: &[Attr] = &[
    Attr::new("documentationUri", Type::Reference, "Help for the service.")
        .references(&["external"])
        .read_only(),
    Attr::new("patch", Type::Complex(SUPPORTED), "PATCH.")
        .required()
        .read_only(),
    Attr::new("bulk", Type::Complex(BULK), "Bulk operations.")
        .required()
        .read_only(),
    Attr::new("filter", Type::Complex(FILTER), "Filters.")
        .required()
        .read_only(),
    Attr::new(
        "changePassword",
        Type::Complex(SUPPORTED),
        "Changing passwords.",
    )
    .required()
    .read_only(),
    Attr::new("sort", Type::Complex(SUPPORTED), "Sorting.")
        .required()
        .read_only(),
    Attr::new("etag", Type::Complex(SUPPORTED), "ETags.")
        .required()
        .read_only(),
    Attr::new(
        "authenticationSchemes",
        Type::Complex(AUTHENTICATION_SCHEME),
        "How clients authenticate.",
    )
    .multi(usize::MAX)
    .required()
    .read_only(),
];

const SCHEMA_EXTENSION: &[Attr] = &[
    Attr::new("schema", Type::Reference, "The extension's schema.")
        .references(&["uri"])
        .required()
        .read_only()
        .case_exact(),
    bool_attr("required", "Whether resources must carry it."),
];

const RESOURCE_TYPE_ATTRIBUTES: &[Attr] = &[
    Attr::string("id", "The resource type's id.").read_only(),
    Attr::string("name", "The resource type's name.")
        .required()
        .read_only(),
    Attr::string("description", "What it is.").read_only(),
    Attr::new("endpoint", Type::Reference, "Its endpoint, relative.")
        .references(&["uri"])
        .required()
        .read_only(),
    Attr::new("schema", Type::Reference, "Its core schema.")
        .references(&["uri"])
        .required()
        .read_only()
        .case_exact(),
    Attr::new(
        "schemaExtensions",
        Type::Complex(SCHEMA_EXTENSION),
        "Its extensions.",
    )
    .multi(usize::MAX)
    .read_only(),
];

const ATTRIBUTE_DEFINITION: &[Attr] = &[
    Attr::string("name", "The attribute's name.")
        .required()
        .read_only()
        .case_exact(),
    Attr::string("type", "Its type.")
        .required()
        .read_only()
        .canonical(&[
            "string",
            "complex",
            "boolean",
            "decimal",
            "integer",
            "dateTime",
            "reference",
            "binary",
        ]),
    bool_attr("multiValued", "Whether it holds several values."),
    Attr::string("description", "What it is.").read_only(),
    Attr::new("required", Type::Boolean, "Whether it must be given.").read_only(),
    Attr::string("canonicalValues", "Its usual values.")
        .multi(usize::MAX)
        .read_only(),
    Attr::new("caseExact", Type::Boolean, "Whether case matters.").read_only(),
    Attr::string("mutability", "Who may change it.")
        .read_only()
        .canonical(&["readOnly", "readWrite", "immutable", "writeOnly"]),
    Attr::string("returned", "When it is returned.")
        .read_only()
        .canonical(&["always", "never", "default", "request"]),
    Attr::string("uniqueness", "How unique it is.")
        .read_only()
        .canonical(&["none", "server", "global"]),
    Attr::string("referenceTypes", "What a reference points to.")
        .multi(usize::MAX)
        .read_only(),
];

const SCHEMA_ATTRIBUTE: &[Attr] = &[
    Attr::string("name", "The attribute's name.")
        .required()
        .read_only()
        .case_exact(),
    Attr::string("type", "Its type.")
        .required()
        .read_only()
        .canonical(&[
            "string",
            "complex",
            "boolean",
            "decimal",
            "integer",
            "dateTime",
            "reference",
            "binary",
        ]),
    bool_attr("multiValued", "Whether it holds several values."),
    Attr::string("description", "What it is.").read_only(),
    Attr::new("required", Type::Boolean, "Whether it must be given.").read_only(),
    Attr::string("canonicalValues", "Its usual values.")
        .multi(usize::MAX)
        .read_only(),
    Attr::new("caseExact", Type::Boolean, "Whether case matters.").read_only(),
    Attr::string("mutability", "Who may change it.")
        .read_only()
        .canonical(&["readOnly", "readWrite", "immutable", "writeOnly"]),
    Attr::string("returned", "When it is returned.")
        .read_only()
        .canonical(&["always", "never", "default", "request"]),
    Attr::string("uniqueness", "How unique it is.")
        .read_only()
        .canonical(&["none", "server", "global"]),
    Attr::string("referenceTypes", "What a reference points to.")
        .multi(usize::MAX)
        .read_only(),
    Attr::new(
        "subAttributes",
        Type::Complex(ATTRIBUTE_DEFINITION),
        "The sub-attributes of a complex attribute.",
    )
    .multi(usize::MAX)
    .read_only(),
];

const SCHEMA_ATTRIBUTES: &[Attr] = &[
    Attr::string("id", "The schema's URI.")
        .read_only()
        .case_exact(),
    Attr::string("name", "The schema's name.").read_only(),
    Attr::string("description", "What it is.").read_only(),
    Attr::new(
        "attributes",
        Type::Complex(SCHEMA_ATTRIBUTE),
        "The schema's attributes.",
    )
    .multi(usize::MAX)
    .required()
    .read_only(),
];

/// A schema published at `/Schemas`: the two resource types', then the
/// discovery resources'.
#[derive(Clone, Copy, Debug)]
pub struct PublishedSchema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [Attr],
}

pub const SCHEMAS: [PublishedSchema; 5] = [
    PublishedSchema {
        id: USER_SCHEMA,
        name: "User",
        description: "User Account",
        attributes: USER_ATTRIBUTES,
    },
    PublishedSchema {
        id: GROUP_SCHEMA,
        name: "Group",
        description: "Group",
        attributes: GROUP_ATTRIBUTES,
    },
    PublishedSchema {
        id: SERVICE_PROVIDER_CONFIG_SCHEMA,
        name: "ServiceProviderConfig",
        description: "Service Provider Configuration",
        attributes: SERVICE_PROVIDER_CONFIG_ATTRIBUTES,
    },
    PublishedSchema {
        id: RESOURCE_TYPE_SCHEMA,
        name: "ResourceType",
        description: "Resource Type",
        attributes: RESOURCE_TYPE_ATTRIBUTES,
    },
    PublishedSchema {
        id: SCHEMA_SCHEMA,
        name: "Schema",
        description: "Schema",
        attributes: SCHEMA_ATTRIBUTES,
    },
];
