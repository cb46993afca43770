// Which characters Rust's `{:?}` of a str writes as `\u{..}` (`char::escape_debug`): grapheme
// extenders and what is not printable (categories Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs but the
// space), as of Unicode 17 (Rust 1.95). serde_json quotes an unexpected string that way in its
// errors. SpiderMonkey in componentize-js has no Unicode property escapes, so the set is a
// table of ranges: base-36 `start` or `start-length`, comma separated. Generated with Node.js
// (Unicode 17) from /^[\p{Grapheme_Extend}\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]$/u
// over all code points but the space; the same table is in python/lib/rust_debug_escapes.py.

const TABLE =
  '0-v,3j-x,4t,lc-33,oo-1,ow-3,p7,p9,pu,w3-6,10w,11z-1,13f-1,13k-19,14v,14x-1,150-1,153-8,163-3' +
  ',16d-g,174-a,17g,18r-k,19s,1cm-7,1cv-5,1d3-1,1d6-3,1e6-1,1e9,1f4-s,1ie-a,1iq-d,1kb-8,1kr-2,1' +
  'li-3,1ln-8,1lx-2,1m1-6,1mn,1nd-4,1nj,1nv-4,1ow-f,1qi-1k,1tm,1to,1tt-7,1u5,1u9-6,1uq-1,1vl,1v' +
  'o,1vx-1,1w1-1,1wp,1wx,1wz-2,1x6-2,1xa,1xd-5,1xl-1,1xp,1xr-c,1y6,1ya-3,1z2-4,1z8,1zf-3,1zl-1,' +
  '209,20h,20k,20n,20q-3,20x-n,21p,21r-6,228-1,22d,22f-b,22s,232,236,23t,241,244,24a-2,24h-7,24' +
  'q,24t-2,24x-e,25e-3,25u-6,262-7,26c,26l-1,26p-1,27d,27l,27o,27u-2,27y-1,281-5,289-1,28d-e,28' +
  'u,28y-3,29k-a,29w,2a3-2,2a9,2ae-2,2aj,2al,2ao-2,2at-2,2az-2,2be-4,2bk,2bn-2,2bt,2bx-2,2c1-k,' +
  '2d7-5,2dg,2dp,2dt,2eh,2ey-2,2f2-2,2f9-i,2fv,2fy-1,2g2-3,2gg-6,2gx,2h9,2hd,2i1,2ic,2ii-2,2in-' +
  '1,2iq,2it-m,2jj,2jm-3,2k0,2k4-d,2kt,2kx,2m3-1,2m6,2m9-4,2mh,2ml,2mo-3,2mv,2n6-3,2o0-1,2o4,2o' +
  'n-2,2pe,2po,2pq-1,2pz-8,2qa-5,2qn-6,2r4-1,2r9-b,2sx,2t0-a,2tj-7,2u4-10,2v7,2v9,2vf,2w4,2w6,2' +
  'wh,2wk-8,2wu-1,2x1,2x3-8,2xm-1,2xs-v,2zc-1,305,307,309,30o,31p-h,328-4,32e-1,32l-1c,346,34d,' +
  '34r-10,371-3,376-5,37d-1,37h-1,388-1,38e-2,38x-3,39e,39h-1,39p,3a5,3ba,3bc-4,3bi-1,3m1,3m6-1' +
  ',3mf,3mh,3mm-1,3nt,3ny-1,3ox,3p2-1,3pb,3pd,3pi-1,3pz,3rl,3rq-1,3tn-4,3ul-2,3ve-5,3xy-1,3y6-1' +
  ',4g0,4gt-2,4jd-6,4k2-c,4ky-2,4l3-8,4lu-d,4ml,4mp-e,4ok-1,4on-6,4p2,4p5-a,4pp-2,4q2-5,4qi-5,4' +
  'qz-4,4re-5,4u1-6,4ud-1,4vd,4vf-4,4xi-9,4yn-3,4yv-1,4z0-3,4z6,4zd-6,4zl-2,50u-1,511-a,52k-3,5' +
  '3e-5,53v-2,55j-1,55n-2,57a,57c-8,57m,57p-7,583-c,58q-5,596-5,59q-2d,5dg-9,5du-2,5e5,5ez-8,5f' +
  'k-1,5gi-3,5go-5,5ie,5ig-1,5il,5in-c,5kc-7,5km-4,5l6-2,5mz-4,5ob-1,5oo-a,5p0-c,5pe-6,5pp,5pw,' +
  '5q0-1,5q3-4,5vk-1r,652-1,65a-1,66e-1,66m-1,66w,66y,670,672,67y-1,69h,69x,6ac-1,6ak,6b4-1,6b9' +
  ',6bj-g,6co-7,6e7-g,6eq-1,6fj,6fx-2,6gy-1p,6mk-3,756-l,763-k,8l0-1,8vj-2,8vo-4,8x2,8x4-4,8xa-' +
  '1,8yw-6,8z5-e,907-8,90n,90v,913,91b,91j,91r,91z,927-w,95q-x,97e,99w-b,9g6-p,9hc,9ii-5,9j4,9l' +
  'j-3,9og-4,9ps,9sf,9uu-8,9wf,wi5-2,wjr-8,wto-j,wvj-3,wvo-9,wwu-1,wz4-1,wzc-7,x5p-j,x6q,x6u,x6' +
  'z,x7p-1,x7w-3,x8a-5,xa0-7,xc4-9,xcq-n,xdr,xeu-7,xfr-a,xg3-b,xh9-5,xir,xiu-3,xj0-1,xj4,xji,xj' +
  'u-3,xk5,xkv,xm1-5,xm9-1,xmd-a,xmr,xn0,xn2-1,xne-1,xoc,xps,xpu-2,xpz-1,xq6-1,xq9,xqb-n,xrg-1,' +
  'xrq-a,xs7-1,xsf-1,xsn-8,xt3,xtb,xv0-3,xyd,xyg,xyl-2,xyy-5,16lg-b,16mf-3,16nw-6ir,1dgu-1,1dju' +
  '-11,1dl3-b,1dlk-4,1dlq,1dmf,1dml,1dmn,1dmq,1dmt,1e4w-v,1e68-f,1e6y-l,1e8j,1e93,1e98-3,1e9h,1' +
  'ed9-3,1ehq-1,1ein-2,1eiw-1,1ej4-1,1ejc-1,1ejh-2,1ejr,1ejz-c,1eke-1,1eks,1elj,1em3,1em6,1emm-' +
  '1,1en2-x,1erf-4,1ern-3,1et0-2,1evj,1evx-2,1ew1-1a,1eyl-3m,1f31-2,1f4h-f,1f5o-3,1f6s-8,1f7v-4' +
  ',1f92-9,1fa6,1fb8-3,1fbq-15,1fha-1,1fhm-5,1fis-3,1fjw-3,1fl4-7,1fms-a,1fnf,1fnv,1fo3,1fo6,1f' +
  'oi,1foy,1fp6,1fp9-2,1fqs-b,1fzr-8,1g0m-9,1g14-n,1g1y,1g35,1g3f-1w,1g5i-1,1g5l,1g6u,1g6x-2,1g' +
  '71-1,1g7q,1g9r-7,1ga8-1b,1gc3,1gc6-4,1gd8-2,1ge2-4,1gey-11,1ghk-3,1gi8-1,1gjl-e,1gk4,1gk8,1g' +
  'l2-9,1gll-6,1gm1-6,1go0-v,1gpx-5,1gqf-8,1gs6-2,1gt2-1,1gtv-4,1guq-6,1gv1-b,1gvk-27,1gzt-1i,1' +
  'h2r-c,1h4j-6,1h5w-b,1h6i-5,1h7q-7,1h8m-7,1h8w-5r,1hfj,1hgq-2,1hgu-1,1hgy-f,1hhk-7,1hi1-12,1h' +
  'k8-7,1hl2-a,1hlm-l,1hmq-3,1hmy-11,1hos-j,1hpz-8,1hq9,1hrs-e,1hse-3,1htc,1htf-1,1hti-b,1hv7-3' +
  ',1hvd-1,1hvh,1hvm-d,1hwp-6,1hx6-8,1hyf-4,1hyl-8,1hzc-7,1i0j,1i0n-a,1i2e-8,1i2o,1i2x-3,1i33,1' +
  'i3k,1i45-a,1i4y,1i5r-2,1i5w-3,1i66,1i69-1q,1i87,1i89,1i8e,1i8u,1i96-5,1ian,1iar-c,1ibe-7,1ib' +
  'o,1ibx-1,1ic1-1,1icp,1icx,1id0,1id6-2,1ida,1idc,1idh-1,1idl-1,1idp-2,1idt-b,1iec-r,1ife,1ifg' +
  '-1,1ifj,1igm,1igo,1igr-e,1ih7,1iha-2,1ihe,1ihi,1ihl-12,1ik8-7,1iki-2,1ikm,1il8,1ila,1ile-t,1' +
  'ink,1inn-5,1inu,1inx,1inz-1,1io2-1,1io8-7,1ioq-4l,1iun,1iuq-5,1iv0-1,1iv3-1,1ivw-z,1iyb-7,1i' +
  'yl,1iyn-1,1iyt-a,1ize-5,1izx-i,1j1n,1j1p,1j1s-7,1j22-5,1j2i-5,1j38-r,1j4r-2,1j4v,1j4y-3,1j53' +
  '-8,1j5z-54,1jcf-8,1jcp-1,1jcs-2r,1jhv-b,1jif-1,1jii-1,1jis,1jiv,1jjk,1jjq,1jjt-5,1jk3,1jk7-8' +
  ',1jkq-1x,1jmw-1,1jo4-7,1jog,1jol-q,1jpd-9,1jqr-5,1jqz-3,1jrb-8,1jrl-5,1jrt-2,1jt6-c,1jtk-1,1' +
  'jtv-c,1jw9-6,1jwq-2e,1jz6-2,1jza,1jzc-2f,1k2q-d,1k3e-5,1k3t,1k4w-d,1k5b,1k5i-9,1k6l-2,1k7k-o' +
  ',1k8a-6,1k8i-1,1k8l-22,1kav,1kay,1kc1-k,1kcn-8,1kd6-5,1kdi,1kdl,1ken-3,1ket,1kev,1kex-6,1kfe' +
  '-5,1kgs-3,1kh6-6t,1koj-1,1kop-8,1kpd,1kqe-7,1kqo-2,1kre-2d,1ktt-e,1kvm-c,1llm-2t,1lrj,1lrp-a' +
  ',1lxg-217,1o1f-c,1ovk-g,1ow7-o,1rzv-4,1sg7-5a0,1xr2-b,1xrh-2,1xru-1c5,1zjt-6,1zkv,1zl6-3,1zn' +
  'j,1znu-5,1zou-6,1zp2-9,1zqo-6,1zra-9,1zru,1zs2,1zso-4,1ztc-bz,206y-5h,20ez-4,20ft-1,20gk-17,' +
  '20jv-4,20lk-a,20m8-1r,20o4-d,20on-8,26dy-14,26fz-2o,26lv-6po,2dbo,2dbw,2dbz,2dk3-e,2dkj-s,2d' +
  'lf-1,2dli-d,2dm0-7,2dx8-1s3,2fsb-4,2fst-2,2ft5-6,2ftm-1,2ftp-1,2fts-31b,2j25-2,2jec-5,2jf5-e' +
  ',2jg1-2m,2jlw-1n,2jue-9,2jvr-1,2jxh-4,2jxp-l,2jyd-6,2jze-3,2k17-k,2k3m-2,2k3q-3d,2k7o-b,2k8k' +
  '-b,2kbb-8,2kc9-3q,2kid,2kkd,2kkg-1,2kkj-1,2kkn-1,2kkt,2kl6,2kl8,2klg,2kna,2knf-1,2knp,2knx,2' +
  'koq,2kov,2kp1,2kp3-2,2kpd,2kyu-1,2l70-1,2lmo-1i,2lob-1d,2lpx,2lqc,2lqk-vn,2mn3-5,2mnf-78,2mw' +
  'e-41,2n1p-9,2n26-1,2n2i-3,2n2o-8v,2nce-h,2ne4-3,2nei-4,2neo-cv,2nsc-3,2nsq-5x,2nzi-1,2nzv-3,' +
  '2o00-5b,2o67,2o6b,2o6e,2o6m-1,2o6t-8,2o74-67,2odj,2odo,2odr,2oe7,2ojp-1,2ok0-1b,2on8-6,2ong-' +
  '3,2onu-3,2oo0-ls,2pbp-23,2pfi-5d,2pl0,2pls,2plv,2plx-1,2pm0,2pmb,2pmg,2pmi,2pmk-5,2pmr-3,2pm' +
  'w,2pmy,2pn0,2pn4,2pn7,2pn9-1,2pnc,2pne,2png,2pni,2pnk,2pnn,2pnp-1,2pnv,2po3,2po8,2pod,2pof,2' +
  'poq,2pp8-4,2ppg,2ppm,2pq4-1f,2prm-7h,2q0c-3,2q38-b,2q3z-1,2q4g,2q4w,2q5y-9,2qb2-1j,2qdf-c,2q' +
  'f0-3,2qfd-6,2qfm-d,2qg6-49,2rbt-2,2rcd-2,2rct-2,2riy-5,2rjg-3,2rjl-e,2rkc-3,2rm0-7,2rmi-5,2r' +
  'ns-7,2rou-1,2rp8-3,2rpe-d,2rq1-12,2s0o-7,2s1a-1,2s1p-2,2s23-2,2s3r,2s3t-3,2s4d-1,2s4r-3,2s55' +
  '-6,2s9f,2scb-sk,3q3k-v,3ti6-1,3xym-1,43q9-e,447y-1wh,46ji-15t,4bij-4,4i2i-jdl1';

const starts = [];
const ends = [];
for (const range of TABLE.split(',')) {
  const [start, length] = range.split('-');
  starts.push(parseInt(start, 36));
  ends.push(parseInt(start, 36) + (length === undefined ? 0 : parseInt(length, 36)));
}

/** Whether Rust's `{:?}` escapes the code point `cp` as `\\u{..}`. */
export function debugEscaped(cp) {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cp < starts[mid]) hi = mid - 1;
    else if (cp > ends[mid]) lo = mid + 1;
    else return true;
  }
  return false;
}
